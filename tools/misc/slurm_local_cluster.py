"""A single-node Slurm cluster on this machine, to try the Slurm scripts.

Runs munged, slurmctld and slurmd with every file (key, sockets, state,
spool, logs) under one directory; no systemd or cgroups needed
(``proctrack/pgid``, ``task/none``). The node has ``--cpus`` CPUs and as
many fake GPUs as CPUs (gres ``gpu``, backed by plain files) so that the
scripts' default ``--gres=gpu:N`` is accepted; nothing uses them.

Example:
    python tools/misc/slurm_local_cluster.py start /tmp/slurm --install
    export SLURM_CONF=/tmp/slurm/slurm.conf
    GPUS=2 GPUS_PER_NODE=2 CPUS_PER_TASK=1 bash tools/slurm_train.sh \\
        debug nano configs/hornet/hornet-nano_1xb32_synthetic-in8.py work
    python tools/misc/slurm_local_cluster.py stop /tmp/slurm

Debian's ``slurm-wlm`` and ``munge`` packages are needed (``--install``
installs them with apt-get, through ``sudo -n`` when not root). The daemons
run as the calling user; munged and Slurm want a directory others can
traverse but not write, so ``DIR`` is made mode 0755.
"""
import argparse
import os
import os.path as osp
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Dict, List, Optional

PACKAGES = ('slurm-wlm', 'munge')
DAEMONS = ('slurmctld', 'slurmd', 'munged')


class ClusterError(RuntimeError):
    """The cluster could not be set up; the message holds the daemons'
    logs."""


def missing_programs() -> List[str]:
    return [
        name for name in ('munged', 'slurmctld', 'slurmd', 'srun', 'sinfo',
                          'scontrol')
        if shutil.which(
            name, path=os.environ.get('PATH', '') + ':/usr/sbin:/sbin') is None
    ]


def install_packages() -> None:
    """apt-get install slurm-wlm and munge when their programs are missing.

    Raises:
        ClusterError: apt-get is missing, sudo is needed but does not work
            without a password, or the installation failed (with its
            output).
    """
    if not missing_programs():
        return
    if shutil.which('apt-get') is None:
        raise ClusterError('slurm-wlm and munge are not installed and there '
                           'is no apt-get to install them')
    prefix = []
    if os.geteuid() != 0:
        sudo_works = shutil.which('sudo') is not None and subprocess.run(
            ['sudo', '-n', 'true'], capture_output=True).returncode == 0
        if not sudo_works:
            raise ClusterError('slurm-wlm and munge are not installed; '
                               'installing them needs root or sudo -n')
        prefix = ['sudo', '-n']
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    install = [
        'apt-get', 'install', '-y', '-qq', '--no-install-recommends', *PACKAGES
    ]
    for cmd in (['apt-get', 'update', '-qq'], install):
        result = subprocess.run(
            prefix + cmd, capture_output=True, text=True, env=env)
        if result.returncode:
            raise ClusterError(f'{" ".join(cmd)} failed:\n'
                               f'{result.stdout[-3000:]}{result.stderr}')
    if missing_programs():
        raise ClusterError(f'installed {PACKAGES} but still missing: '
                           f'{missing_programs()}')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _program(name: str) -> str:
    return shutil.which(
        name, path=os.environ.get('PATH', '') + ':/usr/sbin:/sbin') or name


class LocalSlurmCluster:
    """munged + slurmctld + slurmd on localhost, all files under ``root``.

    Args:
        root: Directory for the key, config, sockets, state and logs.
        cpus: CPUs of the node (and number of fake GPUs).
        partition: Name of the node's only partition.
    """

    node = 'localhost'

    def __init__(self,
                 root: str,
                 cpus: int = 2,
                 partition: str = 'debug') -> None:
        self.root = osp.abspath(root)
        self.cpus = cpus
        self.partition = partition
        self.conf = osp.join(self.root, 'slurm.conf')

    def path(self, *parts: str) -> str:
        return osp.join(self.root, *parts)

    @property
    def env(self) -> Dict[str, str]:
        """The environment for srun/sinfo/scontrol of this cluster."""
        return dict(os.environ, SLURM_CONF=self.conf)

    # setup ----------------------------------------------------------------
    def _write_files(self) -> None:
        for sub in ('munge', 'state', 'spool', 'log', 'gpus'):
            os.makedirs(self.path(sub), exist_ok=True)
        for directory in (self.root, self.path('munge')):
            os.chmod(directory, 0o755)
        key = self.path('munge', 'munge.key')
        if not osp.exists(key):
            with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o400),
                      'wb') as f:
                f.write(os.urandom(1024))
        devices = []
        for index in range(self.cpus):
            device = self.path('gpus', f'gpu{index}')
            open(device, 'a').close()
            devices.append(device)
        with open(self.path('gres.conf'), 'w') as f:
            for device in devices:
                f.write(f'NodeName={self.node} Name=gpu File={device}\n')
        settings = dict(
            ClusterName='hornet',
            SlurmctldHost=self.node,
            SlurmctldPort=_free_port(),
            SlurmdPort=_free_port(),
            SlurmUser=self._user(),
            SlurmdUser=self._user(),
            AuthType='auth/munge',
            CredType='cred/munge',
            AuthInfo=f'socket={self.path("munge", "munge.socket")}',
            StateSaveLocation=self.path('state'),
            SlurmdSpoolDir=self.path('spool'),
            SlurmctldPidFile=self.path('slurmctld.pid'),
            SlurmdPidFile=self.path('slurmd.pid'),
            SlurmctldLogFile=self.path('log', 'slurmctld.log'),
            SlurmdLogFile=self.path('log', 'slurmd.log'),
            ProctrackType='proctrack/pgid',
            TaskPlugin='task/none',
            JobAcctGatherType='jobacct_gather/none',
            AccountingStorageType='accounting_storage/none',
            SchedulerType='sched/builtin',
            SelectType='select/cons_tres',
            SelectTypeParameters='CR_CPU',
            MpiDefault='none',
            ReturnToService=2,
            SlurmdParameters='config_overrides',
            KillWait=5,
            GresTypes='gpu',
        )
        with open(self.conf, 'w') as f:
            for key_, value in settings.items():
                f.write(f'{key_}={value}\n')
            f.write(f'NodeName={self.node} NodeAddr=127.0.0.1 '
                    f'CPUs={self.cpus} Gres=gpu:{self.cpus} State=UNKNOWN\n')
            f.write(f'PartitionName={self.partition} Nodes={self.node} '
                    'Default=YES MaxTime=INFINITE State=UP\n')

    @staticmethod
    def _user() -> str:
        import pwd
        return pwd.getpwuid(os.geteuid()).pw_name

    def _run_daemon(self, cmd: List[str]) -> None:
        result = subprocess.run(
            cmd, capture_output=True, text=True, env=self.env)
        if result.returncode:
            raise ClusterError(
                f'{" ".join(cmd)} exited with {result.returncode}:\n'
                f'{result.stdout}{result.stderr}\n{self.logs()}')

    def start(self, timeout: float = 60) -> None:
        """Start the daemons and wait for the node to be idle.

        Raises:
            ClusterError: a daemon did not start or the node did not become
                idle within ``timeout`` seconds; with the daemons' logs.
        """
        missing = missing_programs()
        if missing:
            raise ClusterError(f'not installed: {missing} (Debian packages '
                               f'{" ".join(PACKAGES)})')
        os.makedirs(self.root, exist_ok=True)
        self._write_files()
        self._run_daemon([
            _program('munged'), '--force',
            f'--key-file={self.path("munge", "munge.key")}',
            f'--socket={self.path("munge", "munge.socket")}',
            f'--pid-file={self.path("munge", "munged.pid")}',
            f'--log-file={self.path("log", "munged.log")}',
            f'--seed-file={self.path("munge", "munged.seed")}'
        ])
        self._run_daemon([_program('slurmctld'), '-c', '-f', self.conf])
        self._run_daemon(
            [_program('slurmd'), '-N', self.node, '-f', self.conf])
        self.wait_idle(timeout)

    def node_state(self) -> str:
        result = subprocess.run([_program('sinfo'), '-h', '-N', '-o', '%T'],
                                capture_output=True,
                                text=True,
                                env=self.env)
        return result.stdout.strip() or result.stderr.strip()

    def wait_idle(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        state = ''
        while time.monotonic() < deadline:
            state = self.node_state()
            if state == 'idle':
                return
            time.sleep(0.5)
        raise ClusterError(f'node {self.node} not idle after {timeout:.0f} '
                           f's (state: {state!r})\n{self.logs()}')

    # teardown -------------------------------------------------------------
    def _pid(self, daemon: str) -> Optional[int]:
        pid_file = self.path('munge', 'munged.pid') if daemon == 'munged' \
            else self.path(f'{daemon}.pid')
        try:
            with open(pid_file) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 15) -> None:
        """Stop slurmd, slurmctld and munged (those of this directory)."""
        for daemon in DAEMONS:
            pid = self._pid(daemon)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

    def logs(self, tail: int = 40) -> str:
        parts = []
        for name in ('slurmctld.log', 'slurmd.log', 'munged.log'):
            path = self.path('log', name)
            if osp.exists(path):
                with open(path, errors='replace') as f:
                    lines = f.read().splitlines()[-tail:]
                parts.append(f'--- {path} ---\n' + '\n'.join(lines))
            else:
                parts.append(f'--- {path}: not written ---')
        return '\n'.join(parts)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of ours is as good as gone
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except OSError:
        return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('action', choices=['start', 'stop'])
    parser.add_argument('dir', help='directory for all the cluster\'s files')
    parser.add_argument('--cpus', type=int, default=2)
    parser.add_argument('--partition', default='debug')
    parser.add_argument(
        '--install',
        action='store_true',
        help='apt-get install slurm-wlm and munge if missing')
    args = parser.parse_args(argv)
    cluster = LocalSlurmCluster(args.dir, args.cpus, args.partition)
    try:
        if args.action == 'stop':
            cluster.stop()
            return 0
        if args.install:
            install_packages()
        cluster.start()
    except ClusterError as err:
        cluster.stop()
        sys.stderr.write(f'error: {err}\n')
        return 1
    print(f'export SLURM_CONF={cluster.conf}  # partition '
          f'{cluster.partition}, {cluster.cpus} CPUs')
    return 0


if __name__ == '__main__':
    sys.exit(main())
