"""A built wheel carries configs and tools (``hornet_mm/.mim``): installed
into a fresh virtualenv, ``mim run``, ``mim train`` and ``mim test`` work
from a directory outside the checkout, with configs named by file name."""
import glob
import os
import os.path as osp
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from helpers import REPO, run_ok

CONFIG = 'hornet-nano_1xb32_synthetic-in8.py'


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    """The wheel built from a copy of the tree (the build writes
    hornet_mm/.mim and build/ next to the sources)."""
    tmp = tmp_path_factory.mktemp('wheel')
    source = tmp / 'src'
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns('.git', '.venv', 'work_dirs', 'data',
                                      'build', 'dist', '.mim', '*.egg-info',
                                      '__pycache__', 'tests'))
    run_ok(sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
           '--no-build-isolation', '-w', tmp / 'dist', source)
    (path, ) = glob.glob(str(tmp / 'dist' / 'hornet_mm-*.whl'))
    return path


def test_wheel_holds_configs_and_tools(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for name in ('hornet_mm/.mim/configs/hornet/' + CONFIG,
                 'hornet_mm/.mim/configs/_base_/default_runtime.py',
                 'hornet_mm/.mim/configs/detection/metafile.yml',
                 'hornet_mm/.mim/tools/train.py',
                 'hornet_mm/.mim/tools/analysis_tools/analyze_logs.py',
                 'hornet_mm/.mim/tools/deployment/pytorch2onnx.py',
                 'hornet_mm/.mim/model-index.yml',
                 'hornet_mm/models/layers/gnconv.py'):
        assert name in names, name
    assert not any(n.startswith(('tests/', 'configs/')) for n in names)


def test_mim_train_test_run_from_outside_the_checkout(wheel, tmp_path):
    venv = tmp_path / 'venv'
    run_ok(sys.executable, '-m', 'venv', venv)
    python = str(venv / 'bin' / 'python')
    site = subprocess.run([
        python, '-c', 'import sysconfig; '
        'print(sysconfig.get_paths()["purelib"])'
    ],
                          capture_output=True,
                          text=True,
                          check=True).stdout.strip()
    # reuse the installed dependencies (not hornet_mm's editable install:
    # .pth files of an added path are not run)
    with open(osp.join(site, 'hornet_mm_deps.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    run_ok(python, '-m', 'pip', 'install', '-q', '--no-deps', '--no-index',
           wheel)
    work = tmp_path / 'elsewhere'
    work.mkdir()
    env = dict(os.environ, PYTHONPATH='')

    def mim(*args):
        return run_ok(python, '-m', 'mim', *args, cwd=work, env=env)

    where = run_ok(
        python,
        '-c',
        'import hornet_mm; print(hornet_mm.__file__)',
        cwd=work,
        env=env)
    assert where.strip().startswith(site)
    mim('run', 'hornet_mm', 'make_synthetic_data', 'imagenet',
        'data/synthetic_imagenet', '--num-train', '4', '--num-val', '2')
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    options = [f'{n}.num_workers=0' for n in loaders]
    mim('train', 'hornet_mm', CONFIG, '--work-dir', 'work_dirs/nano',
        '--cfg-options', 'train_cfg.max_epochs=1',
        'train_dataloader.batch_size=8', *options)
    ckpt = work / 'work_dirs' / 'nano' / 'epoch_1.pth'
    assert ckpt.is_file()
    out = mim('test', 'hornet_mm', CONFIG, '--checkpoint', str(ckpt),
              '--work-dir', 'work_dirs/test', '--cfg-options', *options)
    assert 'accuracy/top1' in out
    (log, ) = glob.glob(
        str(work / 'work_dirs' / 'nano' / '*' / 'vis_data' / '2*.json'))
    mim('run', 'hornet_mm', 'analyze_logs', 'plot_curve', log, '--keys',
        'loss', 'top1', '--out', 'curves.png')
    assert (work / 'curves.png').stat().st_size > 1000
