"""WorkDirLock: one run per work directory; a dead run's lock is taken over,
a live one's never; released however the run ends."""
import errno
import fcntl
import json
import os
import socket
import subprocess
import sys

import pytest

from hornet_mm.engine import (WorkDirInUse, WorkDirLock, lock_work_dir,
                              work_dir_lock)
from hornet_mm.engine.work_dir_lock import _process_start, process_alive

HOST = socket.gethostname()

HOLDER = '''
import sys
from hornet_mm.engine.work_dir_lock import WorkDirLock
lock = WorkDirLock(sys.argv[1])
lock.acquire()
print('locked', flush=True)
sys.stdin.read()
'''


def _dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', ''])
    proc.wait()
    return proc.pid


def _write_lock(work, **owner):
    work.mkdir(exist_ok=True)
    (work / '.lock').write_text(json.dumps(owner))


@pytest.fixture
def warnings(monkeypatch):
    seen = []
    monkeypatch.setattr(work_dir_lock, 'print_log',
                        lambda msg, **kwargs: seen.append(msg))
    return seen


def test_live_run_refused_then_its_lock_taken_over_once_dead(
        tmp_path, warnings):
    work = tmp_path / 'work'
    holder = subprocess.Popen([sys.executable, '-c', HOLDER, work],
                              stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline() == 'locked\n'
        held = (work / '.lock').read_bytes()
        assert json.loads(held)['pid'] == holder.pid
        with pytest.raises(WorkDirInUse) as info:
            WorkDirLock(work).acquire()
        assert f'pid {holder.pid} on {HOST}' in str(info.value)
        assert str(work) in str(info.value)
        assert (work / '.lock').read_bytes() == held
        assert os.listdir(work) == ['.lock']
    finally:
        holder.kill()
        holder.wait()
    # killed: the flock is gone, the file stays; taken over with a warning
    with WorkDirLock(work) as lock:
        assert lock.held
        assert json.loads((work / '.lock').read_text())['pid'] == os.getpid()
        assert len(warnings) == 1 and f'pid {holder.pid} on {HOST}' in \
            warnings[0]
    assert os.listdir(work) == []


def test_second_lock_in_the_same_process_refused(tmp_path):
    with WorkDirLock(tmp_path):
        with pytest.raises(WorkDirInUse, match=f'pid {os.getpid()} on'):
            WorkDirLock(tmp_path).acquire()
        assert (tmp_path / '.lock').exists()
    assert not (tmp_path / '.lock').exists()


@pytest.mark.parametrize(
    'stop',
    [
        RuntimeError('crash'),
        KeyboardInterrupt(),
        SystemExit(143),  # a stop on SIGTERM ends as SystemExit
    ])
def test_released_however_the_run_ends(tmp_path, stop):
    with pytest.raises(type(stop)):
        with WorkDirLock(tmp_path):
            raise stop
    assert os.listdir(tmp_path) == []
    WorkDirLock(tmp_path).acquire()  # free again


def test_stale_and_live_locks_without_flock_holder(tmp_path, warnings):
    # this host, pid dead: stale
    dead = _dead_pid()
    _write_lock(tmp_path, pid=dead, host=HOST, command='old run')
    with WorkDirLock(tmp_path):
        assert f'pid {dead} on {HOST}' in warnings[-1]
    # this host, pid alive (a lock file without its flock, e.g. written by
    # a run on a file system without flock): live
    sleeper = subprocess.Popen(['sleep', '60'])
    try:
        _write_lock(
            tmp_path,
            pid=sleeper.pid,
            host=HOST,
            process_start=_process_start(sleeper.pid))
        with pytest.raises(WorkDirInUse, match=f'pid {sleeper.pid} on'):
            WorkDirLock(tmp_path).acquire()
        # the same pid but another start time: a reused pid, stale
        _write_lock(
            tmp_path,
            pid=sleeper.pid,
            host=HOST,
            process_start=_process_start(sleeper.pid) - 1)
        with WorkDirLock(tmp_path):
            pass
    finally:
        sleeper.kill()
        sleeper.wait()


def test_lock_of_another_host(tmp_path, warnings, monkeypatch):
    # its flock is free: that run is gone (flock is cluster-wide)
    _write_lock(tmp_path, pid=1, host='elsewhere')
    with WorkDirLock(tmp_path):
        assert 'pid 1 on elsewhere' in warnings[-1]
    # a file system without flock: it cannot be told, so never taken
    _write_lock(tmp_path, pid=1, host='elsewhere')

    def no_flock(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, 'flock', no_flock)
    with pytest.raises(WorkDirInUse) as info:
        WorkDirLock(tmp_path).acquire()
    assert 'pid 1 on elsewhere' in str(info.value)
    assert f'remove {tmp_path / ".lock"}' in str(info.value)
    # ... but this host's dead run is, and O_EXCL makes the new lock
    _write_lock(tmp_path, pid=_dead_pid(), host=HOST)
    with WorkDirLock(tmp_path):
        with pytest.raises(WorkDirInUse, match=f'pid {os.getpid()} on'):
            WorkDirLock(tmp_path).acquire()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('launcher,env,locks', [
    ('none', {
        'RANK': '3'
    }, True),
    ('pytorch', {
        'RANK': '0'
    }, True),
    ('pytorch', {
        'RANK': '1'
    }, False),
    ('slurm', {
        'SLURM_PROCID': '2'
    }, False),
    ('mpi', {
        'OMPI_COMM_WORLD_RANK': '1'
    }, False),
])
def test_only_global_rank_0_takes_it(tmp_path, monkeypatch, launcher, env,
                                     locks):
    for name in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK', 'PMI_RANK'):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with lock_work_dir(tmp_path, launcher) as lock:
        assert lock.held == locks
        assert (tmp_path / '.lock').exists() == locks
    if not locks:
        # the other ranks neither take nor wait for rank 0's lock
        with WorkDirLock(tmp_path):
            with lock_work_dir(tmp_path, launcher) as other:
                assert not other.held


def test_process_alive():
    assert process_alive(os.getpid())
    assert process_alive(os.getpid(), _process_start(os.getpid()))
    assert not process_alive(os.getpid(), _process_start(os.getpid()) + 1)
    assert not process_alive(_dead_pid())
