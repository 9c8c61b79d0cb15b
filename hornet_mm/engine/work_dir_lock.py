"""One training run per work directory.

Two runs on one work directory overwrite each other's checkpoints and
``last_checkpoint``, and the start-up clean-up of one removes the checkpoint
the other is writing. ``tools/train.py`` therefore holds
:class:`WorkDirLock` on ``<work_dir>/.lock`` for the whole run: from before
the Runner is built (which already writes the config and the log directory)
until training has ended, normally, with an exception, or through
``SystemExit`` / ``KeyboardInterrupt`` (a stop on SIGTERM / SIGINT); the
file is then removed.

* **Ownership** is an exclusive ``flock`` on the open lock file, held by the
  process for the run's life. The kernel drops it when the process dies,
  however it dies (SIGKILL, a crash, a lost node: on NFSv4 once the client's
  lease expires, on Lustre / GPFS / BeeGFS mounted with cluster-wide flock),
  so the lock's liveness is the flock's, on every host that mounts the
  directory. The file holds the owner's pid, host, start time and command,
  for the error message and the warning.
* A second run finds the flock taken and refuses to start, naming that run;
  nothing in the work directory is changed (exit status 2).
* A **stale** lock (the file is there, the flock is free: the run that
  wrote it died) is taken over with a warning naming the dead run. On the
  same host the named pid is also checked: if that process still runs
  (with the same start time, so not a reused pid), the lock is not taken.
* Where the file system refuses ``flock`` altogether, the lock falls back to
  creating the file with ``O_CREAT | O_EXCL``: a lock of this host whose pid
  is dead is taken over, a lock of another host is never (its run cannot be
  checked from here), and the error says to remove the file if that run is
  gone. A mount whose flock is only local to each client (NFS ``nolock`` /
  ``local_lock=flock``, Lustre ``localflock``) cannot exclude runs on
  different hosts; on such mounts give each job its own work directory.
* **Distributed runs**: only the process of global rank 0 (``RANK``, or
  ``SLURM_PROCID`` / ``OMPI_COMM_WORLD_RANK`` for those launchers, read
  before any process group exists) takes the lock; the other ranks never
  touch it and never wait for it. When rank 0 refuses it exits before
  training, and torchrun / ``srun --kill-on-bad-exit`` (as
  ``tools/slurm_train.sh`` runs it) stop the other ranks.

``tools/test.py`` takes no lock: it only adds a timestamped log directory
and the files named on its command line, which do not collide with a
training run's (or another test's) files.
"""
import errno
import fcntl
import json
import logging
import os
import os.path as osp
import socket
import sys
import time
from typing import Optional

from mmengine.logging import print_log

__all__ = [
    'WorkDirInUse', 'WorkDirLock', 'lock_work_dir', 'process_alive',
    'LOCK_NAME'
]

LOCK_NAME = '.lock'

# flock() errors that mean "not supported here" rather than "taken"
_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


class WorkDirInUse(RuntimeError):
    """Another run holds the work directory's lock."""


def _process_start(pid: int) -> Optional[int]:
    """The start time of process ``pid`` in clock ticks since boot (Linux
    ``/proc``), or None where it cannot be read."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            stat = f.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces: count from its ")"
    try:
        return int(stat[stat.rindex(')') + 2:].split()[19])
    except (ValueError, IndexError):
        return None


def process_alive(pid: int, started: Optional[int] = None) -> bool:
    """Whether process ``pid`` of this host runs, and, given its
    :func:`_process_start` time ``started``, is still that process (not a
    later one that got the same pid)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    if started is not None:
        now = _process_start(pid)
        if now is not None and now != started:
            return False
    return True


def _describe(owner: dict) -> str:
    if not owner:
        return 'a run that is starting (its lock file is still empty)'
    return (f"pid {owner.get('pid')} on {owner.get('host')}, started "
            f"{owner.get('started')}: {owner.get('command')}")


class WorkDirLock:
    """An exclusive lock on a work directory for the life of a run.

    Use it as a context manager (or call :meth:`acquire` and
    :meth:`release`). See the module's documentation for the rules.

    Args:
        work_dir: The directory to lock; created if missing.
        rank: The global rank of this process in a distributed run: only
            rank 0 takes the lock, the others hold nothing.

    Example:
        >>> with WorkDirLock('work_dirs/tiny'):
        ...     runner.train()  # a second run here: WorkDirInUse
    """

    def __init__(self, work_dir: str, rank: int = 0) -> None:
        self.work_dir = str(work_dir)
        self.path = osp.join(self.work_dir, LOCK_NAME)
        self.rank = rank
        self._fd: Optional[int] = None

    @property
    def held(self) -> bool:
        """Whether this process holds the lock now."""
        return self._fd is not None

    def __enter__(self) -> 'WorkDirLock':
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _read(self, fd: int) -> dict:
        try:
            text = os.pread(fd, 1 << 16, 0).decode('utf-8', 'replace')
            owner = json.loads(text) if text.strip() else {}
        except (OSError, ValueError):
            return {'command': '(unreadable lock file)'}
        return owner if isinstance(owner, dict) else {}

    def _refuse(self, owner: dict, hint: str = '') -> None:
        raise WorkDirInUse(
            f'Work directory {self.work_dir} is in use by another run '
            f'({_describe(owner)}); not starting, nothing changed. Wait for '
            'that run to end, or use another --work-dir.' + hint)

    def acquire(self) -> None:
        """Take the lock, or raise :class:`WorkDirInUse` naming its owner.

        A stale lock is taken over with a warning.
        """
        if self._fd is not None or self.rank != 0:
            return
        os.makedirs(self.work_dir, exist_ok=True)
        for _ in range(100):  # only a lock freed meanwhile tries again
            created = True
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL,
                             0o644)
            except FileExistsError:
                created = False
                try:
                    fd = os.open(self.path, os.O_RDWR)
                except FileNotFoundError:  # released meanwhile
                    continue
            try:
                if self._take(fd, created):
                    self._fd = fd
                    return
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        raise WorkDirInUse(f'Could not lock {self.path}: it keeps being '
                           'replaced by other runs')

    def _take(self, fd: int, created: bool) -> bool:
        """Own the lock through ``fd``; False: try again."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            flocked = True
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                self._refuse(self._read(fd))
            if err.errno not in _NO_FLOCK:
                raise
            flocked = False
        try:  # still the file of that name, not one removed meanwhile
            if os.stat(self.path).st_ino != os.fstat(fd).st_ino:
                return False
        except FileNotFoundError:
            return False
        if not created:
            owner = self._read(fd)
            self._check_stale(owner, flocked)
            if owner:
                print_log(
                    f'Taking over the lock {self.path} of a run that is no '
                    f'longer running ({_describe(owner)})',
                    logger='current',
                    level=logging.WARNING)
            if not flocked:
                # no flock to serialise a take-over: remove the stale file
                # (if it is still that one) and create a new one exclusively
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    os.remove(self.path)
                return False
        me = dict(
            pid=os.getpid(),
            host=socket.gethostname(),
            started=time.strftime('%Y-%m-%d %H:%M:%S %Z'),
            process_start=_process_start(os.getpid()),
            command=' '.join([sys.executable, *sys.argv]))
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me, indent=1).encode() + b'\n', 0)
        os.fsync(fd)
        return True

    def _check_stale(self, owner: dict, flocked: bool) -> None:
        """Refuse unless the run that wrote ``owner`` is known to be gone."""
        here = owner.get('host') == socket.gethostname()
        pid = owner.get('pid')
        if here and isinstance(pid, int) and process_alive(
                pid, owner.get('process_start')):
            self._refuse(owner)
        if flocked:
            return
        # without flock: another host's run, or a run still writing the
        # file, cannot be told from a dead one
        if not owner:
            age = time.time() - os.stat(self.path).st_mtime
            if age < 60:
                self._refuse(owner)
        elif not here:
            self._refuse(
                owner, f' This file system does not support flock, so '
                f'whether that run still runs cannot be checked from '
                f'{socket.gethostname()}: if it has ended, remove '
                f'{self.path}.')

    def release(self) -> None:
        """Remove the lock file and drop the lock (if held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            mine = os.stat(self.path).st_ino == os.fstat(fd).st_ino and \
                self._read(fd).get('pid') == os.getpid()
            if mine:
                os.remove(self.path)
        except OSError:
            pass  # already gone: nothing to release but the flock
        finally:
            os.close(fd)


def _global_rank(launcher: str) -> int:
    if launcher == 'none':
        return 0
    for name in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK', 'PMI_RANK'):
        if os.environ.get(name, '').isdigit():
            return int(os.environ[name])
    return 0


def lock_work_dir(work_dir: str, launcher: str = 'none') -> WorkDirLock:
    """The :class:`WorkDirLock` a process started by ``launcher`` (``'none'``,
    ``'pytorch'``, ``'slurm'``, ``'mpi'``) holds on ``work_dir``: the lock on
    global rank 0, nothing on the other ranks."""
    return WorkDirLock(work_dir, rank=_global_rank(launcher))
