"""The end of a CPU (gloo) job: no gloo thread outlives tools' ``main``.

gloo finishes collectives on its own threads and may free their tensors
there, which needs the GIL. A thread still alive at interpreter shutdown is
killed while it waits for it, and the process aborts ("terminate called
without an active exception") after its work is done, in 9 of 39 runs of a
2-process ``tools/test.py``; Slurm then cancels the whole step.
The tools therefore destroy the process group and join its threads before
they return. Two processes are started by hand, rank 0 hosting the store as
under Slurm; each reports the threads left after ``main`` returned. With
the shutdown switched off (control) the threads are still there.
"""
import json
import os.path as osp
import sys

import pytest

from helpers import REPO, free_port, rank_env, start
from hornet_mm.datasets.synthetic import make_imagenet_style

NANO = osp.join(REPO, 'configs', 'hornet',
                'hornet-nano_1xb32_synthetic-in8.py')

# runs a tool's main() in this process, then reports gloo's threads
PROBE = r'''
import importlib.util, json, os, sys
tool, shutdown = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location('tool', tool)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
if shutdown == 'off':
    from hornet_mm.utils import cli
    cli.shutdown_distributed = lambda: None
rc = module.main(sys.argv[3:])
names = []
for tid in os.listdir('/proc/self/task'):
    try:
        with open(f'/proc/self/task/{tid}/comm') as f:
            names.append(f.read().strip())
    except OSError:  # the thread ended meanwhile
        pass
print('PROBE ' + json.dumps(dict(rc=rc, threads=names)), flush=True)
os._exit(0)  # the control must not abort at exit
'''


def _two_ranks(tmp_path, tool, shutdown, *args):
    probe = tmp_path / 'probe.py'
    probe.write_text(PROBE)
    port = str(free_port())
    procs = []
    for rank in range(2):
        procs.append(
            start([
                sys.executable, probe,
                osp.join(REPO, 'tools', tool), shutdown, *args, '--launcher',
                'pytorch'
            ],
                  env=rank_env(rank, 2, port)))
    reports = []
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        lines = [ln for ln in out.splitlines() if ln.startswith('PROBE ')]
        assert proc.returncode == 0 and lines, out[-4000:]
        reports.append(json.loads(lines[-1][len('PROBE '):]))
    return reports


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('shutdown') / 'data'
    make_imagenet_style(str(root), num_train=8, num_val=5, progress=False)
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    options = ['--cfg-options'] + [
        f'{loader}.dataset.data_root={root}' for loader in loaders
    ] + [f'{loader}.num_workers=0' for loader in loaders
         ] + [f'{loader}.batch_size=8' for loader in loaders]
    return options


def _gloo_threads(report):
    return [name for name in report['threads'] if 'gloo' in name]


def test_train_and_test_join_gloo_threads(data, tmp_path):
    work_dir = tmp_path / 'train'
    for report in _two_ranks(tmp_path, 'train.py', 'on', NANO, '--work-dir',
                             work_dir, *data, 'train_cfg.max_epochs=1'):
        assert report['rc'] == 0
        assert _gloo_threads(report) == []
    checkpoint = work_dir / 'epoch_1.pth'
    assert checkpoint.is_file()

    for report in _two_ranks(tmp_path, 'test.py', 'on', NANO, checkpoint,
                             '--work-dir', tmp_path / 'test', *data):
        assert report['rc'] == 0
        assert _gloo_threads(report) == []

    # control: without the ordered shutdown, gloo's work threads (and its
    # transport loop) are alive when main returns
    for report in _two_ranks(tmp_path, 'test.py', 'off', NANO, checkpoint,
                             '--work-dir', tmp_path / 'control', *data):
        assert report['rc'] == 0
        assert 'pt_gloo_runloop' in _gloo_threads(report)
