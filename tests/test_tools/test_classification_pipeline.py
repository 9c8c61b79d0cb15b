"""The embedded classification pipeline end to end, through the tools.

A generated 8-class ImageNet-style set (shapes and textures, chance 12.5%)
trains the small config with tools/train.py; tools/test.py must then report a
top-1 far above chance, with and without TTA, and mmpretrain's own test tool
must agree. A converted release-layout checkpoint evaluates as load_from.
"""
import json
import os
import os.path as osp
import pickle
import subprocess
import sys

import mmpretrain
import pytest
import torch

import reference_hornet as ref
from helpers import REPO, repo_path, run_ok, run_python, run_tool
from hornet_mm.apis import convert_checkpoint
from hornet_mm.datasets.synthetic import make_imagenet_style

pytestmark = pytest.mark.long  # see setup.cfg

NANO = osp.join(REPO, 'configs', 'hornet',
                'hornet-nano_1xb32_synthetic-in8.py')
MMPRETRAIN_TOOLS = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools')


def _data_root_options(root):
    return ['--cfg-options'] + [
        f'{loader}.dataset.data_root={root}'
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('cls_pipeline')
    root = tmp / 'data'
    make_imagenet_style(str(root), progress=False)
    work_dir = tmp / 'work'
    log = run_tool('train.py', NANO, '--work-dir', work_dir,
                   *_data_root_options(root))
    checkpoint = work_dir / 'epoch_40.pth'
    assert checkpoint.is_file(), log[-2000:]
    return root, work_dir, checkpoint


def _top1(tmp, root, checkpoint, *extra, tool=None):
    metrics = tmp / 'metrics.json'
    tool = tool or osp.join(REPO, 'tools', 'test.py')
    run_python(tool, NANO, checkpoint, '--work-dir', tmp / 'test', '--out',
               metrics, '--out-item', 'metrics', *extra,
               *_data_root_options(root))
    return json.loads(metrics.read_text())['accuracy/top1']


def test_embedded_training_beats_chance(trained, tmp_path):
    root, _, checkpoint = trained
    top1 = _top1(tmp_path, root, checkpoint)
    assert top1 > 60.0  # chance is 12.5%


def test_tta_and_prediction_dump(trained, tmp_path):
    root, _, checkpoint = trained
    assert _top1(tmp_path, root, checkpoint, '--tta') > 60.0
    preds = tmp_path / 'preds.pkl'
    run_tool('test.py', NANO, checkpoint, '--work-dir', tmp_path / 'test',
             '--out', preds, *_data_root_options(root))
    with open(preds, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == 8 * 25
    assert {'pred_label', 'pred_score', 'gt_label'} <= set(results[0])


def test_mmpretrain_own_tools_agree(trained, tmp_path):
    root, _, checkpoint = trained
    ours = _top1(tmp_path / 'a', root, checkpoint)
    theirs = _top1(
        tmp_path / 'b',
        root,
        checkpoint,
        tool=osp.join(MMPRETRAIN_TOOLS, 'test.py'))
    assert theirs == ours
    # and mmpretrain's train tool runs the config through custom_imports
    run_python(
        osp.join(MMPRETRAIN_TOOLS, 'train.py'), NANO, '--work-dir',
        tmp_path / 'mmpretrain_train', '--cfg-options',
        'train_cfg.max_epochs=1',
        *_data_root_options(root)[1:])
    assert (tmp_path / 'mmpretrain_train' / 'epoch_1.pth').is_file()


def test_converted_release_checkpoint_evaluates(tmp_path):
    root = tmp_path / 'data'
    make_imagenet_style(str(root), num_train=1, num_val=1, progress=False)
    official = tmp_path / 'hornet_tiny_gf.pth'
    torch.save({'model': ref.make_official_state_dict('tiny-gf')}, official)
    converted = tmp_path / 'hornet-tiny-gf_in1k.pth'
    convert_checkpoint(str(official), str(converted))
    config = osp.join(REPO, 'configs', 'hornet',
                      'hornet-tiny-gf_8xb128_in1k.py')
    preds = tmp_path / 'preds.pkl'
    log = run_tool('test.py', config, converted, '--work-dir',
                   tmp_path / 'test', '--out', preds, '--cfg-options',
                   f'test_dataloader.dataset.data_root={root}',
                   'test_dataloader.dataset.type=hornet_mm.ImageNet',
                   'test_dataloader.batch_size=4',
                   'test_dataloader.num_workers=0')
    assert 'accuracy/top1' in log
    with open(preds, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == 8
    assert all(r['pred_score'].shape == (1000, ) for r in results)


def test_amp_and_resume(trained, tmp_path):
    root, _, _ = trained
    work_dir = tmp_path / 'amp'
    train = [osp.join(REPO, 'tools', 'train.py'), NANO, '--work-dir', work_dir]
    options = _data_root_options(root)
    log = run_python(*train, '--amp', *options, 'train_cfg.max_epochs=2')
    assert 'bfloat16 autocast on the CPU' in log
    state = torch.load(work_dir / 'epoch_2.pth', map_location='cpu')
    assert state['meta']['epoch'] == 2
    assert 'loss_scaler' not in state['optimizer']

    # --resume without a path: the latest checkpoint of the work dir
    log = run_python(*train, '--amp', '--resume', *options,
                     'train_cfg.max_epochs=3')
    assert 'resumed epoch: 2' in log
    assert (work_dir / 'epoch_3.pth').is_file()
    # --resume PATH; a missing path is refused before anything starts
    log = run_python(*train, '--resume', work_dir / 'epoch_3.pth', *options,
                     'train_cfg.max_epochs=4')
    assert 'resumed epoch: 3' in log
    result = subprocess.run(
        [sys.executable, *map(str, train), '--resume', tmp_path / 'nope.pth'],
        capture_output=True,
        text=True,
        cwd=REPO)
    assert result.returncode == 2 and 'nope.pth' in result.stderr


def test_distributed_cpu_train_and_test(trained, tmp_path):
    """tools/dist_train.sh / dist_test.sh with 2 CPU processes (gloo)."""
    root, _, checkpoint = trained
    options = _data_root_options(root)

    def dist(script, *args, port):
        env = dict(os.environ, PORT=str(port))
        return run_ok('bash', repo_path('tools', script), *args, env=env)

    log = dist(
        'dist_train.sh',
        NANO,
        2,
        '--work-dir',
        tmp_path / 'train',
        *options,
        'train_cfg.max_epochs=1',
        port=29611)
    # 1200 images / (2 processes x 32) = 19 iterations per epoch
    assert 'Epoch(train) [1][15/19]' in log
    assert (tmp_path / 'train' / 'epoch_1.pth').is_file()

    metrics = tmp_path / 'dist_metrics.json'
    dist(
        'dist_test.sh',
        NANO,
        checkpoint,
        2,
        '--work-dir',
        tmp_path / 'test',
        '--out',
        metrics,
        '--out-item',
        'metrics',
        *options,
        port=29612)
    single = _top1(tmp_path / 'single', root, checkpoint)
    assert json.loads(metrics.read_text())['accuracy/top1'] == single
