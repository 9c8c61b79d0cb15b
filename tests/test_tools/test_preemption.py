"""Training through tools/train.py stopped by a signal, as Slurm stops it.

* SIGTERM in the middle of an epoch: the iteration is finished, an
  iteration-exact checkpoint is written and named by ``last_checkpoint``,
  the process exits with 143; ``--resume`` continues at the next batch of
  the same epoch and ends with the weights (and optimizer moments) of a run
  that was never interrupted. The signal goes to the whole process group,
  as Slurm and a terminal send it.
* With dataloader workers, SIGTERM saves the same way and SIGINT ends with
  one line, without tracebacks of the workers.
* Two processes (gloo): SIGTERM to one rank stops both after the same
  iteration with one checkpoint, and the resumed pair ends with the weights
  of an uninterrupted pair.
* An iteration-based run resumed from an iteration checkpoint continues the
  data stream at the next batch without loading the batches before it, and
  ends with the weights of the uninterrupted run.
"""
import os
import os.path as osp
import re
import signal
import sys
import time

import pytest
import torch

from helpers import REPO, free_port, rank_env, run, start
from hornet_mm.datasets.synthetic import make_imagenet_style
from hornet_mm.engine.resume import checkpoint_problem

NANO = osp.join(REPO, 'configs', 'hornet',
                'hornet-nano_1xb32_synthetic-in8.py')
TRAIN = osp.join(REPO, 'tools', 'train.py')
TIMEOUT = 300


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('preemption_data')
    make_imagenet_style(str(root), num_train=4, num_val=2, progress=False)
    return root  # 32 training images


def _options(root, batch_size=8, workers=0, *extra):
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    return ['--cfg-options'] + [
        f'{loader}.dataset.data_root={root}' for loader in loaders
    ] + [f'{loader}.num_workers={workers}' for loader in loaders] + [
        f'train_dataloader.batch_size={batch_size}',
        'val_dataloader.batch_size=16', 'randomness.seed=0',
        'randomness.deterministic=True', 'default_hooks.logger.interval=1',
        *extra
    ]


def _env(**extra):
    return dict(os.environ, PYTHONUNBUFFERED='1', **extra)


def _train(work_dir, *args, env=None):
    return run([sys.executable, TRAIN, NANO, '--work-dir', work_dir, *args],
               env=env or _env(),
               timeout=TIMEOUT)


def _start(work_dir, *args, env=None):
    """tools/train.py in a process group of its own (workers included)."""
    return start([sys.executable, TRAIN, NANO, '--work-dir', work_dir, *args],
                 env=env or _env(),
                 new_session=True)


def _signal_at(proc, pattern, signum, group=True):
    """Send ``signum`` when the output shows ``pattern``; the whole
    output."""
    seen, sent = [], False
    deadline = time.monotonic() + TIMEOUT
    for line in proc.stdout:
        seen.append(line)
        if not sent and re.search(pattern, line):
            if group:
                os.killpg(proc.pid, signum)
            else:
                proc.send_signal(signum)
            sent = True
        if time.monotonic() > deadline:
            proc.kill()
            break
    proc.stdout.close()
    proc.wait(timeout=60)
    assert sent, ''.join(seen[-50:])
    return ''.join(seen)


def _assert_same_training(expected_path, resumed_path):
    expected = torch.load(expected_path, map_location='cpu')
    resumed = torch.load(resumed_path, map_location='cpu')
    assert list(resumed['state_dict']) == list(expected['state_dict'])
    for key, value in expected['state_dict'].items():
        assert torch.allclose(
            resumed['state_dict'][key], value, rtol=0, atol=1e-6), key
    moments = expected['optimizer']['state']
    assert moments.keys() == resumed['optimizer']['state'].keys()
    for index, state in moments.items():
        for name, value in state.items():
            assert torch.allclose(
                resumed['optimizer']['state'][index][name],
                value,
                rtol=0,
                atol=1e-6), (index, name)
    assert resumed['meta']['iter'] == expected['meta']['iter']


STOPPED = re.compile(r'SIGTERM received: training stopped after iteration '
                     r'(\d)/4 of epoch 2 \((\d+) in all\); saved (\S+) ')


def test_sigterm_mid_epoch_resumes_to_the_uninterrupted_weights(
        data_root, tmp_path):
    # 4 iterations per epoch; validation after epoch 1 draws from the
    # generators before epoch 2
    options = _options(data_root, 8, 0, 'train_cfg.val_interval=1',
                       'train_cfg.max_epochs=2')
    rc, log = _train(tmp_path / 'straight', *options)
    assert rc == 0, log[-3000:]

    work_dir = tmp_path / 'stopped'
    proc = _start(work_dir, *options)
    log = _signal_at(proc, r'Epoch\(train\) \[2\]\[2/4\]', signal.SIGTERM)
    assert proc.returncode == 128 + signal.SIGTERM, log[-3000:]
    found = STOPPED.search(log)
    assert found, log[-3000:]
    batch, done, path = int(found[1]), int(found[2]), found[3]
    assert batch in (2, 3) and done == 4 + batch
    assert path == str(work_dir / f'epoch_2_iter_{done}.pth')
    assert 'Traceback' not in log
    assert checkpoint_problem(path) is None
    assert (work_dir / 'last_checkpoint').read_text() == path
    assert not (work_dir / 'epoch_2.pth').exists()
    saved = torch.load(path, map_location='cpu', weights_only=False)
    assert saved['meta']['epoch'] == 1 and saved['meta']['iter'] == done
    assert {
        'optimizer', 'param_schedulers', 'message_hub', 'hornet_mm_rng_state'
    } <= set(saved)
    position = saved['hornet_mm_data_position']
    assert (position['epoch'], position['batch'], position['iter'],
            position['batches_per_epoch']) == (1, batch, done, 4)

    rc, log = _train(work_dir, '--resume', *options)
    assert rc == 0, log[-3000:]
    assert f'resumed epoch: 1, iter: {done}' in log
    assert f'at batch {batch + 1} of 4' in log
    # the batches already trained are not trained again
    assert 'Epoch(train) [1]' not in log
    for earlier in range(1, batch + 1):
        assert f'Epoch(train) [2][{earlier}/4]' not in log
    assert f'Epoch(train) [2][{batch + 1}/4]' in log
    _assert_same_training(tmp_path / 'straight' / 'epoch_2.pth',
                          work_dir / 'epoch_2.pth')
    # superseded by epoch_2.pth
    assert not osp.exists(path)
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir /
                                                             'epoch_2.pth')


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT])
def test_signal_with_dataloader_workers(data_root, tmp_path, signum):
    options = _options(data_root, 8, 2, 'train_cfg.max_epochs=2',
                       'train_dataloader.persistent_workers=True')
    proc = _start(tmp_path, '--no-validate', *options)
    log = _signal_at(proc, r'Epoch\(train\) \[2\]\[1/4\]', signum)
    assert 'Traceback' not in log, log[-5000:]
    assert 'exited unexpectedly' not in log
    if signum == signal.SIGINT:
        assert proc.returncode == 130, log[-3000:]
        last = log.strip().splitlines()[-1]
        assert re.fullmatch(
            r'Interrupted \(SIGINT\) in epoch 2, iteration [1-4]/4 of the '
            r'epoch \([5-8] in all\): nothing saved; the last checkpoint, ' +
            re.escape(str(tmp_path / 'epoch_1.pth')) +
            r', is kept \(continue with --resume\)', last), last
        assert sorted(n for n in os.listdir(tmp_path)
                      if n.endswith('.pth')) == ['epoch_1.pth']
    else:
        assert proc.returncode == 143, log[-3000:]
        found = STOPPED.search(log)
        assert found, log[-3000:]
        assert checkpoint_problem(found[3]) is None


def test_normal_end_with_persistent_workers_is_quiet(data_root, tmp_path):
    """The workers of persistent train and val loaders are ended by their
    loaders when the run ends, not terminated by ``multiprocessing`` at
    exit (torch then reports each as "killed by signal: Terminated" in a
    traceback after the last log line)."""
    options = _options(data_root, 8, 2, 'train_cfg.max_epochs=1',
                       'train_dataloader.persistent_workers=True',
                       'val_dataloader.persistent_workers=True')
    rc, log = _train(tmp_path, *options)
    assert rc == 0, log[-3000:]
    assert 'accuracy/top1' in log
    assert 'Traceback' not in log, log[-3000:]
    assert 'killed by signal' not in log, log[-3000:]


def _two_ranks(work_dir, args, stop_rank1_at=None):
    """tools/train.py as two gloo processes; with ``stop_rank1_at``,
    SIGTERM to rank 1 alone when rank 0's log shows that pattern."""
    port = str(free_port())
    procs = []
    for rank in (0, 1):
        env = rank_env(
            rank, 2, port, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
        procs.append(
            start([
                sys.executable, TRAIN, NANO, '--work-dir', work_dir,
                '--launcher', 'pytorch', *args
            ],
                  env=env))
    if stop_rank1_at is None:
        outputs = [p.communicate(timeout=TIMEOUT)[0] for p in procs]
    else:
        seen, sent = [], False
        for line in procs[0].stdout:
            seen.append(line)
            if not sent and re.search(stop_rank1_at, line):
                procs[1].send_signal(signal.SIGTERM)
                sent = True
        procs[0].wait(timeout=TIMEOUT)
        outputs = [''.join(seen), procs[1].communicate(timeout=60)[0]]
        assert sent, outputs[0][-3000:]
    return [p.returncode for p in procs], outputs


def test_distributed_ranks_stop_together(data_root, tmp_path):
    # 2 ranks x batch 4: 4 iterations per epoch
    options = _options(data_root, 4, 0, 'train_cfg.max_epochs=2')
    codes, logs = _two_ranks(tmp_path / 'straight',
                             ['--no-validate', *options])
    assert codes == [0, 0], logs[0][-3000:] + logs[1][-3000:]

    work_dir = tmp_path / 'stopped'
    codes, logs = _two_ranks(
        work_dir, ['--no-validate', *options],
        stop_rank1_at=r'Epoch\(train\) \[2\]\[2/4\]')
    # rank 0 was not signalled, and stopped with rank 1
    assert codes == [143, 143], logs[0][-3000:] + logs[1][-3000:]
    found = STOPPED.search(logs[0])
    assert found, logs[0][-3000:]
    path = found[3]
    # one checkpoint, no partial file of another rank
    assert sorted(
        n for n in os.listdir(work_dir)
        if n.endswith('.pth') or n.startswith('.')) == sorted(
            ['epoch_1.pth', osp.basename(path)])
    assert checkpoint_problem(path) is None
    position = torch.load(path, map_location='cpu')['hornet_mm_data_position']
    assert len(position['ranks']) == 2

    codes, logs = _two_ranks(work_dir, ['--no-validate', '--resume', *options])
    assert codes == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    _assert_same_training(tmp_path / 'straight' / 'epoch_2.pth',
                          work_dir / 'epoch_2.pth')


ITERATION_BASED = """
_base_ = [{nano!r}]
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=8, val_interval=4)
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=8)
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=4))
log_processor = dict(by_epoch=False)
"""


def test_iteration_based_run_resumes_exactly(data_root, tmp_path):
    config = tmp_path / 'nano_iters.py'
    config.write_text(ITERATION_BASED.format(nano=NANO))
    options = _options(data_root, 8, 0)

    def train(work_dir, *args):
        return run([
            sys.executable, TRAIN, config, '--work-dir', work_dir, *args,
            *options
        ],
                   env=_env(),
                   timeout=TIMEOUT)

    rc, log = train(tmp_path / 'straight')
    assert rc == 0, log[-3000:]

    # stopped after iteration 5 or 6, resumed
    work_dir = tmp_path / 'stopped'
    proc = start(
        [sys.executable, TRAIN, config, '--work-dir', work_dir, *options],
        env=_env(),
        new_session=True)
    log = _signal_at(proc, r'Iter\(train\) \[5/8\]', signal.SIGTERM)
    assert proc.returncode == 143, log[-3000:]
    found = re.search(
        r'SIGTERM received: training stopped after iteration '
        r'([56]); saved (\S+) ', log)
    assert found, log[-3000:]
    assert found[2] == str(work_dir / f'iter_{found[1]}.pth')
    rc, log = train(work_dir, '--resume')
    assert rc == 0, log[-3000:]
    assert f'Resuming at iteration {found[1]}: the batches before it are ' \
        'skipped without loading them' in log
    _assert_same_training(tmp_path / 'straight' / 'iter_8.pth',
                          work_dir / 'iter_8.pth')

    # from the regular checkpoint of iteration 4, followed by a validation
    again = tmp_path / 'from_iter_4'
    again.mkdir()
    (again / 'iter_4.pth').write_bytes((work_dir / 'iter_4.pth').read_bytes())
    rc, log = train(again, '--resume', again / 'iter_4.pth')
    assert rc == 0, log[-3000:]
    assert 'Resuming at iteration 4' in log
    _assert_same_training(tmp_path / 'straight' / 'iter_8.pth',
                          again / 'iter_8.pth')
