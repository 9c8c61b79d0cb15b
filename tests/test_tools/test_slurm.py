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
import socket
import sys
import tempfile

import pytest
import torch

from helpers import REPO, load_tool, run
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


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


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
        MASTER_PORT=str(_free_port()))
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
    env.update(GRES='', MASTER_PORT=str(_free_port()))
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
    for name in ('MASTER_ADDR', 'MASTER_PORT', 'RANK', 'LOCAL_RANK'):
        monkeypatch.delenv(name, raising=False)
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
