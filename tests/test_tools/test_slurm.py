"""tools/slurm_train.sh and tools/slurm_test.sh on a real Slurm cluster.

A single-node cluster (munged, slurmctld, slurmd from Debian's slurm-wlm,
installed when missing) runs on localhost with a 2-CPU partition
(tools/misc/slurm_local_cluster.py). A 2-task job trains the nano
classifier through slurm_train.sh; slurm_test.sh evaluates the result with
2 tasks and must report the metrics of a single-process tools/test.py run of
the same checkpoint. A cluster that cannot start fails the test with the
daemons' logs.
"""
import json
import os
import os.path as osp
import re
import shutil
import sys
import tempfile
import time

import pytest
import torch

from helpers import REPO, free_port, load_tool, run
from hornet_mm.datasets.synthetic import make_imagenet_style

NANO = osp.join(REPO, 'configs', 'hornet',
                'hornet-nano_1xb32_synthetic-in8.py')
PARTITION = 'hornet'
TIMEOUT = 300  # seconds, for each command
slurm_local = load_tool('tools/misc/slurm_local_cluster.py')


@pytest.fixture(scope='module')
def cluster():
    try:
        slurm_local.install_packages()
    except slurm_local.ClusterError as err:
        pytest.fail(f'cannot install Slurm: {err}')
    # munged wants a socket directory every user can traverse: not under
    # pytest's private (0700) temporary directory
    root = tempfile.mkdtemp(prefix='hornet_slurm_')
    local = slurm_local.LocalSlurmCluster(root, cpus=2, partition=PARTITION)
    try:
        try:
            local.start(timeout=60)
        except slurm_local.ClusterError as err:
            pytest.fail(f'the local Slurm cluster did not start: {err}')
        yield local
    finally:
        local.stop()
        shutil.rmtree(root, ignore_errors=True)


def _options(root):
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    return ['--cfg-options'] + [
        f'{loader}.dataset.data_root={root}' for loader in loaders
    ] + [f'{loader}.num_workers=0' for loader in loaders] + [
        'train_dataloader.batch_size=8', 'val_dataloader.batch_size=8',
        'test_dataloader.batch_size=8'
    ]


def test_slurm_train_and_test_two_tasks(cluster, tmp_path):
    data = tmp_path / 'data'
    make_imagenet_style(str(data), num_train=8, num_val=5, progress=False)
    work_dir = tmp_path / 'work'
    env = dict(
        cluster.env,
        GPUS='2',
        GPUS_PER_NODE='2',
        CPUS_PER_TASK='1',
        MASTER_PORT=str(free_port()))
    rc, log = run([
        'bash',
        osp.join(REPO, 'tools', 'slurm_train.sh'), PARTITION, 'hornet-nano',
        NANO, work_dir, *_options(data), 'train_cfg.max_epochs=2'
    ],
                  env=env,
                  timeout=TIMEOUT)
    assert rc == 0, f'{log[-5000:]}\n{cluster.logs()}'
    assert 'Distributed launcher: slurm' in log
    assert 'GPU number: 2' in log  # mmengine's world size
    # 64 images / (2 tasks x 8) = 4 iterations per epoch (8 in one process)
    assert 'Epoch(train) [2][4/4]' in log
    assert not re.search(r'Epoch\(train\) \[\d\]\[\d/8\]', log)

    checkpoint = work_dir / 'epoch_2.pth'
    state = torch.load(checkpoint, map_location='cpu')
    assert state['meta']['epoch'] == 2
    assert (work_dir /
            'last_checkpoint').read_text().strip() == str(checkpoint)
    logs = list(work_dir.glob('*/*.log'))
    assert len(logs) == 1 and 'Saving checkpoint at 2 epochs' in \
        logs[0].read_text()

    # slurm_test.sh, as on a CPU-only partition: no --gres request
    metrics = tmp_path / 'slurm_metrics.json'
    env.update(GRES='', MASTER_PORT=str(free_port()))
    rc, log = run([
        'bash',
        osp.join(REPO, 'tools', 'slurm_test.sh'), PARTITION, 'hornet-test',
        NANO, checkpoint, '--work-dir', tmp_path / 'test', '--out', metrics,
        '--out-item', 'metrics', *_options(data)
    ],
                  env=env,
                  timeout=TIMEOUT)
    assert rc == 0, f'{log[-5000:]}\n{cluster.logs()}'
    assert 'Distributed launcher: slurm' in log

    single = tmp_path / 'single_metrics.json'
    rc, log = run([
        sys.executable,
        osp.join(REPO, 'tools', 'test.py'), NANO, checkpoint, '--work-dir',
        tmp_path / 'single', '--out', single, '--out-item', 'metrics',
        *_options(data)
    ],
                  timeout=TIMEOUT)
    assert rc == 0, log[-3000:]
    ours = json.loads(metrics.read_text())
    theirs = json.loads(single.read_text())
    assert set(ours) == {'accuracy/top1'}
    assert ours == theirs


def test_slurm_env_derivation(monkeypatch):
    """RANK, WORLD_SIZE, LOCAL_RANK and the master address from Slurm's
    variables, as mmengine's init_dist('slurm') derives them."""
    from hornet_mm.utils.cli import slurm_dist_env

    # set, then removed: monkeypatch restores (removes) what
    # slurm_dist_env() exports, which would leak into later tests' jobs
    for name in ('MASTER_ADDR', 'MASTER_PORT', 'RANK', 'LOCAL_RANK',
                 'WORLD_SIZE'):
        monkeypatch.setenv(name, 'unset')
        monkeypatch.delenv(name)
    monkeypatch.setenv('SLURM_PROCID', '5')
    monkeypatch.setenv('SLURM_NTASKS', '8')
    monkeypatch.setenv('SLURM_LOCALID', '1')
    monkeypatch.setenv('SLURM_NODELIST', 'node[3-4]')
    bin_dir = tempfile.mkdtemp()
    try:
        scontrol = osp.join(bin_dir, 'scontrol')
        with open(scontrol, 'w') as f:
            f.write('#!/bin/sh\n[ "$3" = "node[3-4]" ] && '
                    'printf "node3\\nnode4\\n"\n')
        os.chmod(scontrol, 0o755)
        monkeypatch.setenv('PATH', bin_dir + os.pathsep + os.environ['PATH'])
        slurm_dist_env()
        assert (os.environ['RANK'], os.environ['WORLD_SIZE'],
                os.environ['LOCAL_RANK']) == ('5', '8', '1')
        assert os.environ['MASTER_ADDR'] == 'node3'
        assert os.environ['MASTER_PORT'] == '29500'
        slurm_dist_env(port=12345)
        assert os.environ['MASTER_PORT'] == '12345'
    finally:
        shutil.rmtree(bin_dir)


# An iteration takes a third of a second more, so that the signals reach the
# job in the middle of training (the nano model trains 8 batches in 1 s)
SLOW_CONFIG = '''
_base_ = [{nano!r}]
custom_hooks = [dict(type='SlowIterations')]
'''
SLOW_HOOK = '''
import time
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class SlowIterations(Hook):

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        time.sleep(0.3)
'''


def _squeue_state(cluster, job):
    rc, out = run(['squeue', '-h', '-j', job, '-o', '%T'], env=cluster.env)
    return out.strip()


def _run_logs(work_dir):
    """The text logs of the runs in a work dir, oldest run first."""
    # run directories are named by start time (YYYYmmdd_HHMMSS); glob's
    # order is the file system's
    return [p.read_text() for p in sorted(work_dir.glob('*/*.log'))]


def _wait_for(predicate, what, cluster, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f'timed out waiting for {what}\n{cluster.logs()}')


def _come_back(cluster, job):
    """Wait until the job is requeued, and let it start at once (Slurm
    holds a requeued job for about two minutes)."""
    _wait_for(lambda: _squeue_state(cluster, job) == 'PENDING',
              f'job {job} to be requeued', cluster)
    run(['scontrol', 'update', f'jobid={job}', 'starttime=now'],
        env=cluster.env)


def test_preempted_job_comes_back_and_matches_the_uninterrupted_weights(
        cluster, tmp_path):
    """REQUEUE=1 SIGNAL=USR1@... slurm_train.sh: SIGUSR1 (as before the time
    limit) makes the job save and requeue itself; `scontrol requeue` (as a
    preemption) sends SIGTERM, the job saves and Slurm requeues it; each
    time it comes back it resumes where it stopped, and the final weights
    are those of an uninterrupted single-process run."""
    data = tmp_path / 'data'
    make_imagenet_style(str(data), num_train=4, num_val=2, progress=False)
    (tmp_path / 'slow_iterations.py').write_text(SLOW_HOOK)
    config = tmp_path / 'nano_slow.py'
    config.write_text(
        SLOW_CONFIG.format(nano=NANO) +
        "custom_imports = dict(imports=['hornet_mm', 'slow_iterations'], "
        'allow_failed_imports=False)\n')
    options = [
        '--no-validate', '--cfg-options', *_options(data)[1:],
        'randomness.seed=0', 'randomness.deterministic=True',
        'default_hooks.logger.interval=1', 'train_cfg.max_epochs=2'
    ]
    env = dict(
        cluster.env,
        PYTHONPATH=os.pathsep.join(
            [str(tmp_path), os.environ.get('PYTHONPATH', '')]),
        MASTER_PORT=str(free_port()))
    rc, log = run([
        sys.executable,
        osp.join(REPO, 'tools', 'train.py'), config, '--work-dir',
        tmp_path / 'straight', *options
    ],
                  env=env,
                  timeout=TIMEOUT)
    assert rc == 0, log[-3000:]

    work_dir = tmp_path / 'work'
    env.update(
        GPUS='1',
        GPUS_PER_NODE='1',
        CPUS_PER_TASK='1',
        GRES='',
        REQUEUE='1',
        SIGNAL='USR1@10')
    rc, log = run([
        'bash',
        osp.join(REPO, 'tools', 'slurm_train.sh'), PARTITION, 'hornet-requeue',
        config, work_dir, *options
    ],
                  env=env,
                  timeout=TIMEOUT)
    assert rc == 0, f'{log[-5000:]}\n{cluster.logs()}'
    job = re.search(r'Submitted batch job (\d+)', log)[1]
    out = work_dir / f'slurm-{job}.out'

    def shows(pattern, count=1):
        text = out.read_text() if out.exists() else ''
        return len(re.findall(pattern, text)) >= count

    # 1. SIGUSR1 in epoch 1: saved, the job requeues itself
    _wait_for(lambda: shows(r'Epoch\(train\) \[1\]\[2/4\]'), 'epoch 1',
              cluster)
    run(['scancel', '--signal=USR1', job], env=cluster.env)
    _come_back(cluster, job)
    # in the run's own log (srun's output is cut when Slurm ends the step)
    logs = ''.join(_run_logs(work_dir))
    assert re.search(
        r'SIGUSR1 received: training stopped after iteration \d/4 of epoch '
        r'1 \(\d in all\); saved \S+ \(continue with --resume\)\n.*'
        rf'Slurm job {job} requeued', logs), logs[-3000:]

    # 2. preempted in epoch 2 (scontrol requeue: SIGTERM, then requeued)
    _wait_for(lambda: shows(r'Epoch\(train\) \[2\]\[2/4\]'), 'epoch 2',
              cluster)
    run(['scontrol', 'requeue', job], env=cluster.env)
    _come_back(cluster, job)

    # 3. the third run finishes
    def done():
        rc, out_ = run(['scontrol', 'show', 'job', job], env=cluster.env)
        return 'JobState=COMPLETED' in out_

    _wait_for(done, f'job {job} to complete', cluster)
    text = out.read_text()
    assert 'Saving checkpoint at 2 epochs' in text, text[-3000:]
    assert text.count('resumed epoch:') == 2
    first, second, third = _run_logs(work_dir)
    assert re.search(
        r'SIGTERM received: training stopped after iteration \d/4 of epoch '
        r'2 \(\d in all\); saved ', second), second[-3000:]
    # the third run resumed in epoch 2 and trained no batch of epoch 1 again
    assert 'resumed epoch: 1, iter: ' in third, third[-3000:]
    assert 'Epoch(train) [1]' not in third.split('resumed epoch: 1')[-1]

    straight = torch.load(
        tmp_path / 'straight' / 'epoch_2.pth', map_location='cpu')
    resumed = torch.load(work_dir / 'epoch_2.pth', map_location='cpu')
    assert resumed['meta']['iter'] == straight['meta']['iter'] == 8
    for key, value in straight['state_dict'].items():
        assert torch.allclose(
            resumed['state_dict'][key], value, rtol=0, atol=1e-6), key
    # only the final checkpoints are left
    assert sorted(p.name for p in work_dir.glob('*.pth')) == [
        'epoch_1.pth', 'epoch_2.pth'
    ]
