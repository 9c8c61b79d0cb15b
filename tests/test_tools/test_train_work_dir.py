"""Two ``tools/train.py`` runs never share a work directory.

A run is paused half-way through writing ``epoch_2.pth`` (a slow write to a
network file system); meanwhile a second run on the same work directory,
and one started there with ``--resume``, are refused with an error naming
the live run, and change nothing in it. The live run then finishes as if
they had not been started, and leaves no lock behind.
"""
import os
import os.path as osp
import socket
import sys
import time

from test_crash_safety import data_root  # noqa: F401  the fixture
from test_crash_safety import NANO, TRAIN, _env, _options

from helpers import run, start

# Writes the first half of the first file whose name holds "epoch_2", then
# waits for the file $HORNET_MM_TEST_GO before writing the rest.
SLOW_WRITER = '''
import os, runpy, sys, time
from mmengine.fileio.backends import LocalBackend
put = LocalBackend.put
def slow_put(self, obj, filepath):
    if 'epoch_2' not in os.path.basename(str(filepath)):
        return put(self, obj, filepath)
    with open(filepath, 'wb') as f:
        f.write(obj[:len(obj) // 2])
        f.flush()
        print('HALF WRITTEN', flush=True)
        deadline = time.monotonic() + 300
        while not os.path.exists(os.environ['HORNET_MM_TEST_GO']):
            if time.monotonic() > deadline:
                raise TimeoutError('nobody said go')
            time.sleep(0.1)
        f.write(obj[len(obj) // 2:])
LocalBackend.put = slow_put
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


def _snapshot(work_dir):
    """Name -> content of every file of ``work_dir`` (log dirs included)."""
    found = {}
    for root, _, names in os.walk(work_dir):
        for name in names:
            path = osp.join(root, name)
            with open(path, 'rb') as f:
                found[osp.relpath(path, work_dir)] = f.read()
    return found


def test_second_run_on_a_live_work_dir_refused(data_root, tmp_path):  # noqa
    options = [
        '--no-validate', *_options(data_root, batch_size=16),
        'default_hooks.checkpoint.save_best=None', 'train_cfg.max_epochs=2'
    ]
    writer = tmp_path / 'slow_writer.py'
    writer.write_text(SLOW_WRITER)
    go = tmp_path / 'go'
    env = dict(_env(), HORNET_MM_TEST_GO=str(go))
    work_dir = tmp_path / 'work'
    live = start([
        sys.executable, writer, TRAIN, NANO, '--work-dir', work_dir, *options
    ],
                 env=env)
    try:
        seen = []
        deadline = time.monotonic() + 300
        for line in live.stdout:
            seen.append(line)
            if line.startswith('HALF WRITTEN') or time.monotonic() > deadline:
                break
        assert seen and seen[-1].startswith('HALF WRITTEN'), \
            ''.join(seen[-50:])
        partial = f'.epoch_2.pth.tmp{live.pid}'
        before = _snapshot(work_dir)
        assert partial in before and 'epoch_1.pth' in before

        # another seed on the same work dir, then a resume beside it
        other = [*options, 'randomness.seed=1', 'train_cfg.max_epochs=1']
        refused = []
        for extra in ([], ['--resume']):
            rc, log = run([
                sys.executable, TRAIN, NANO, '--work-dir', work_dir, *other,
                *extra
            ],
                          env=_env(),
                          timeout=300)
            refused.append((rc, log, _snapshot(work_dir) == before))
        go.write_text('')
        rest, _ = live.communicate(timeout=300)
    finally:
        go.write_text('')
        if live.poll() is None:
            live.kill()
            live.wait()
    for rc, log, unchanged in refused:
        assert rc == 2, log[-3000:]
        assert f'pid {live.pid} on {socket.gethostname()}' in log, \
            log[-3000:]
        assert str(work_dir) in log
        assert unchanged
    assert live.returncode == 0, (''.join(seen) + rest)[-3000:]
    names = sorted(os.listdir(work_dir))
    assert 'epoch_2.pth' in names
    assert not [name for name in names if name.startswith('.')], names
