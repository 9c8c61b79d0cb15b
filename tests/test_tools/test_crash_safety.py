"""Training through tools/train.py survives kills and stops on NaN losses.

* A run killed (SIGKILL) in the middle of an epoch and restarted with
  ``--resume`` ends with the weights of a run that was never interrupted.
* A kill while a checkpoint is being written leaves the previous checkpoint
  and a ``last_checkpoint`` naming it; ``--resume`` continues from it. With
  mmengine's own CheckpointHook the same kill leaves a truncated checkpoint
  and none to resume from, which ``--resume`` reports instead of starting
  over.
* A NaN loss stops training with an error naming epoch and iteration; the
  last checkpoint stays as it was.
"""
import math
import os
import os.path as osp
import re
import signal
import sys
import time

import pytest
import torch

from helpers import REPO, run, start
from hornet_mm.datasets.synthetic import make_imagenet_style
from hornet_mm.engine.resume import checkpoint_problem

NANO = osp.join(REPO, 'configs', 'hornet',
                'hornet-nano_1xb32_synthetic-in8.py')
TRAIN = osp.join(REPO, 'tools', 'train.py')

# Dies (SIGKILL) half-way through writing the first file whose name holds
# "epoch_2", as a kill or a power cut in the middle of torch.save would.
DYING_WRITER = '''
import os, runpy, signal, sys
from mmengine.fileio.backends import LocalBackend
put = LocalBackend.put
def dying_put(self, obj, filepath):
    if 'epoch_2' in os.path.basename(str(filepath)):
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 2])
            f.flush()
            os.fsync(f.fileno())
        os.kill(os.getpid(), signal.SIGKILL)
    return put(self, obj, filepath)
LocalBackend.put = dying_put
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('crash_safety_data')
    make_imagenet_style(str(root), num_train=4, num_val=2, progress=False)
    return root  # 32 training images


def _options(root, batch_size=8):
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    return ['--cfg-options'] + [
        f'{loader}.dataset.data_root={root}' for loader in loaders
    ] + [f'{loader}.num_workers=0' for loader in loaders] + [
        f'train_dataloader.batch_size={batch_size}',
        'val_dataloader.batch_size=16', 'randomness.seed=0',
        'randomness.deterministic=True', 'default_hooks.logger.interval=1'
    ]


def _env():
    return dict(os.environ, PYTHONUNBUFFERED='1')


def _train(work_dir, *args, config=NANO, prefix=()):
    cmd = [sys.executable, *prefix, TRAIN, config, '--work-dir', work_dir]
    return run([*cmd, *args], env=_env())


def _weights(path):
    return torch.load(path, map_location='cpu')['state_dict']


def _ls(directory):
    return sorted(os.listdir(directory))


def test_killed_run_resumes_to_the_uninterrupted_weights(data_root, tmp_path):
    # 32 images / batch 8 = 4 iterations per epoch; validation after the
    # first epoch draws from the generators before the second
    options = [
        *_options(data_root), 'train_cfg.val_interval=1',
        'train_cfg.max_epochs=2'
    ]

    rc, log = _train(tmp_path / 'straight', *options)
    assert rc == 0, log[-3000:]

    work_dir = tmp_path / 'killed'
    proc = start(
        [sys.executable, TRAIN, NANO, '--work-dir', work_dir, *options],
        env=_env())
    seen = []
    killed = False
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        seen.append(line)
        if re.search(r'Epoch\(train\) \[2\]\[2/4\]', line):
            assert (work_dir / 'epoch_1.pth').is_file()
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        if time.monotonic() > deadline:
            break
    proc.stdout.close()
    proc.wait(timeout=60)
    assert killed, ''.join(seen[-50:])
    assert proc.returncode == -signal.SIGKILL
    assert not (work_dir / 'epoch_2.pth').exists()
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir /
                                                             'epoch_1.pth')

    rc, log = _train(work_dir, '--resume', *options)
    assert rc == 0, log[-3000:]
    assert 'resumed epoch: 1' in log
    assert 'Epoch(train) [1]' not in log

    straight = torch.load(
        tmp_path / 'straight' / 'epoch_2.pth', map_location='cpu')
    again = torch.load(work_dir / 'epoch_2.pth', map_location='cpu')
    expected, resumed = straight['state_dict'], again['state_dict']
    assert list(resumed) == list(expected)
    for key, value in expected.items():
        assert torch.allclose(resumed[key], value, rtol=0, atol=1e-6), key
    # the AdamW moments too
    moments = straight['optimizer']['state']
    assert moments.keys() == again['optimizer']['state'].keys()
    for index, state in moments.items():
        for name, value in state.items():
            assert torch.allclose(
                again['optimizer']['state'][index][name],
                value,
                rtol=0,
                atol=1e-6), (index, name)
    # and not trivially: the weights moved during the resumed epoch
    epoch_1 = _weights(work_dir / 'epoch_1.pth')
    assert any(not torch.equal(epoch_1[k], v) for k, v in expected.items())


def test_kill_while_writing_a_checkpoint(data_root, tmp_path):
    options = [
        '--no-validate', *_options(data_root, batch_size=16),
        'default_hooks.checkpoint.max_keep_ckpts=1',
        'default_hooks.checkpoint.save_best=None', 'train_cfg.max_epochs=2'
    ]
    writer = tmp_path / 'dying_writer.py'
    writer.write_text(DYING_WRITER)

    work_dir = tmp_path / 'atomic'
    rc, log = _train(work_dir, *options, prefix=[writer])
    assert rc == -signal.SIGKILL, log[-3000:]
    files = _ls(work_dir)
    partial = [name for name in files if name.startswith('.epoch_2.pth.tmp')]
    assert len(partial) == 1, files
    assert checkpoint_problem(str(work_dir / partial[0])) is not None
    # the previous checkpoint is complete and still named
    assert 'epoch_2.pth' not in files and 'epoch_1.pth' in files
    assert checkpoint_problem(str(work_dir / 'epoch_1.pth')) is None
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir /
                                                             'epoch_1.pth')

    rc, log = _train(work_dir, '--resume', *options)
    assert rc == 0, log[-3000:]
    assert 'resumed epoch: 1' in log
    assert f'Removed {partial[0]}' in log
    files = _ls(work_dir)
    assert [name for name in files if name.endswith('.pth')] == \
        ['epoch_2.pth']  # max_keep_ckpts=1
    assert not any(name.startswith('.') for name in files)
    assert torch.load(
        work_dir / 'epoch_2.pth', map_location='cpu')['meta']['epoch'] == 2

    # mmengine's CheckpointHook: the oldest checkpoint is removed first and
    # the new one written in place
    work_dir = tmp_path / 'in_place'
    rc, log = _train(
        work_dir,
        *options,
        'default_hooks.checkpoint.type=mmengine.CheckpointHook',
        prefix=[writer])
    assert rc == -signal.SIGKILL, log[-3000:]
    files = _ls(work_dir)
    assert 'epoch_1.pth' not in files and 'epoch_2.pth' in files
    assert 'truncated' in checkpoint_problem(str(work_dir / 'epoch_2.pth'))
    with pytest.raises(Exception):
        torch.load(work_dir / 'epoch_2.pth', map_location='cpu')
    # --resume refuses to start over and names what it found
    rc, log = _train(work_dir, '--resume', *options)
    assert rc == 2, log[-3000:]
    assert 'Nothing to resume from' in log
    assert 'epoch_1.pth does not exist' in log
    assert 'epoch_2.pth is truncated' in log
    assert _ls(work_dir) == files


NAN_CONFIG = '''_base_ = '{base}'
# from the second epoch on, an lr that makes the weights overflow
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, milestones=[1], gamma=1e30)
]
'''


def test_nan_loss_stops_training(data_root, tmp_path):
    config = tmp_path / 'diverging.py'
    config.write_text(NAN_CONFIG.format(base=NANO))
    work_dir = tmp_path / 'work'
    # 32 images / batch 8 = 4 iterations per epoch
    rc, log = _train(
        work_dir,
        '--no-validate',
        *_options(data_root),
        'train_cfg.max_epochs=3',
        config=config)
    assert rc != 0
    match = re.search(
        r'FloatingPointError: Non-finite loss at epoch 2, iteration '
        r'(\d)/4 of the epoch \(iteration (\d+) in all\): loss=(\S+)\. '
        r'Training stopped; the last checkpoint, (\S+), is kept', log)
    assert match, log[-3000:]
    iteration = int(match.group(1))
    assert int(match.group(2)) == 4 + iteration
    assert match.group(3) in ('nan', 'inf', '-inf')
    assert match.group(4) == str(work_dir / 'epoch_1.pth')
    # the iterations before it were logged with finite losses, it was not
    logged = re.findall(r'Epoch\(train\) \[2\]\[(\d)/4\].*loss: (\S+)', log)
    assert [int(i) for i, _ in logged] == list(range(1, iteration))
    assert all(math.isfinite(float(loss)) for _, loss in logged)

    assert _ls(work_dir).count('epoch_1.pth') == 1
    assert 'epoch_2.pth' not in _ls(work_dir)
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir /
                                                             'epoch_1.pth')
    weights = _weights(work_dir / 'epoch_1.pth')
    assert all(torch.isfinite(v).all() for v in weights.values())
