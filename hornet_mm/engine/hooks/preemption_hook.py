"""Stop training on SIGTERM / SIGUSR1 with an iteration-exact checkpoint."""
import atexit
import multiprocessing
import os
import os.path as osp
import signal
import subprocess
from typing import Callable, Optional, Sequence

import torch
from mmengine.dist import all_reduce, barrier, is_distributed, is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook as _MMEngineCheckpointHook
from mmengine.hooks import Hook
from mmengine.runner import BaseLoop, EpochBasedTrainLoop

from hornet_mm.registry import HOOKS
from hornet_mm.utils.atomic import write_text_atomic
from ..data_position import restart_stream
from .checkpoint_hook import _save_atomically
from .random_state_hook import RandomStateHook

__all__ = ['PreemptionHook', 'TrainingInterrupted']

# message-hub key: the checkpoint written on the last stop
_PREEMPTED = 'hornet_mm_preempted_ckpt'


class TrainingInterrupted(SystemExit):
    """Training stopped on a signal after saving a checkpoint.

    A ``SystemExit`` whose code is ``128 + signal number`` (143 for
    SIGTERM, 138 for SIGUSR1), the status of a process ended by that
    signal: left uncaught the interpreter exits with it and prints no
    traceback, in any tool that trains with the hook.
    """

    def __init__(self, message: str, signum: int,
                 checkpoint: Optional[str]) -> None:
        super().__init__(128 + signum)
        self.message = message
        self.signum = signum
        self.checkpoint = checkpoint

    def __str__(self) -> str:
        return self.message


def _signal_number(name) -> int:
    if isinstance(name, int) or str(name).isdigit():
        return int(name)
    name = str(name).upper()
    name = name if name.startswith('SIG') else f'SIG{name}'
    try:
        return int(getattr(signal, name))
    except AttributeError:
        raise ValueError(f'Unknown signal {name!r}') from None


class _WorkerIgnoresSignals:
    """A dataloader ``worker_init_fn`` that keeps the worker alive through
    the stop signals and SIGINT, then calls the loader's own
    ``worker_init_fn``.

    torch's workers die on SIGTERM, which Slurm sends to every process of
    the job, and the main process then fails in the middle of a batch with
    "DataLoader worker ... is killed by signal". Here they ignore SIGINT,
    and ignore the stop signals until the main process is exiting
    (``exiting`` is set at its exit), when ``multiprocessing`` ends them
    with SIGTERM.
    """

    def __init__(self, init_fn: Optional[Callable], signals: Sequence[int],
                 exiting) -> None:
        self.init_fn = init_fn
        self.signals = list(signals)
        self.exiting = exiting

    def __call__(self, worker_id: int) -> None:
        exiting = self.exiting

        def on_stop(signum, frame) -> None:
            if exiting.is_set():
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

        for signum in self.signals:
            signal.signal(signum, on_stop)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if self.init_fn is not None:
            self.init_fn(worker_id)


def _restart_started_workers(loop) -> None:
    """An ``IterBasedTrainLoop`` starts its loader's workers when it is
    built, before the hook can set their ``worker_init_fn``: start them
    again (nothing has been drawn from them yet)."""
    iterator = getattr(loop, 'dataloader_iterator', None)
    inner = getattr(iterator, '_iterator', None)
    if inner is not None and loop.dataloader.num_workers > 0:
        restart_stream(loop.dataloader)  # the same batches, from the first
        iterator._iterator = iter(loop.dataloader)


def _shut_down_workers(runner) -> None:
    """End the dataloader workers the loops keep (persistent workers, an
    iteration-based loop's iterator) the way their loaders end them, before
    the process exits: left to ``multiprocessing``'s exit handler, they are
    terminated and torch reports each as "killed by signal" in a
    traceback. A loader whose workers were ended starts new ones if it is
    iterated again."""
    for loop in (runner._train_loop, runner._val_loop, runner._test_loop):
        if not isinstance(loop, BaseLoop):  # not built (a config dict)
            continue
        loader = getattr(loop, 'dataloader', None)
        iterator = getattr(loader, '_iterator', None)
        if hasattr(iterator, '_shutdown_workers'):
            iterator._shutdown_workers()
            loader._iterator = None
        iterator = getattr(loop, 'dataloader_iterator', None)
        iterator = getattr(iterator, 'iterator', iterator)  # fast-forward
        if hasattr(getattr(iterator, '_iterator', None), '_shutdown_workers'):
            iterator._iterator._shutdown_workers()


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Save an iteration-exact checkpoint and stop when a stop signal
    arrives.

    Slurm sends SIGTERM at the time limit, on preemption and on ``scancel``
    (and SIGKILL ``KillWait`` seconds later, 30 by default), and the signal
    chosen with ``--signal=USR1@<seconds>`` that long before the limit.
    Without this hook SIGTERM ends training at once, losing every iteration
    since the last epoch checkpoint. With it, on one of ``signals``:

    * the current iteration is finished; in a distributed run the ranks
      agree on the stop after each iteration (one ``all_reduce`` of a flag),
      so all of them stop after the same iteration however the signal
      reached them;
    * a checkpoint of that moment is written atomically through the
      checkpoint hook's writer: ``iter_<N>.pth`` (N iterations done; in an
      epoch-based run ``epoch_<E>_iter_<N>.pth`` for epoch E in progress)
      with weights, optimizer, schedulers, the message hub, and, through
      :class:`RandomStateHook`, the random generators and the position in
      the epoch, so that ``--resume`` continues at the next batch and ends
      with the weights of an uninterrupted run; ``last_checkpoint`` names
      it;
    * the stop is logged (signal, epoch, iteration, file) and
      :class:`TrainingInterrupted` ends the process with status
      ``128 + signal`` (143 for SIGTERM, 138 for SIGUSR1): the status of a
      process ended by that signal, which job scripts and Slurm's
      ``RequeueExit`` can test for;
    * with the signal in ``requeue_signals`` inside a Slurm batch job, rank 0
      runs ``scontrol requeue $SLURM_JOB_ID`` after the checkpoint is
      complete, so the job comes back and resumes (``tools/slurm_train.sh``
      with ``REQUEUE=1``).

    A signal that arrives during validation stops after the current
    validation batch: the epoch's checkpoint was written before validation
    began, so nothing of the training is lost (that validation is not run
    again on resume). A signal before training starts ends the process
    at once (nothing to save) with the same status.

    Also SIGINT (Ctrl-C): the main process raises ``KeyboardInterrupt``
    with one line naming where training was and its last checkpoint, and
    dataloader workers ignore it (and the stop signals) instead of dying
    with their own tracebacks in the middle of a batch; nothing is saved.

    The handlers are set when the hook is built, before the dataloaders
    start their workers (which inherit them), and restored when training
    ends.

    Args:
        signals: Names or numbers of the signals that stop training.
        requeue_signals: Those of ``signals`` after which a Slurm batch job
            is requeued.
        handle_sigint: Whether to handle SIGINT as above.
    """

    priority = 'LOWEST'  # after every other hook of the iteration

    def __init__(self,
                 signals: Sequence = ('SIGTERM', 'SIGUSR1'),
                 requeue_signals: Sequence = (),
                 handle_sigint: bool = True) -> None:
        self.signals = [_signal_number(s) for s in signals]
        self.requeue_signals = [_signal_number(s) for s in requeue_signals]
        unknown = set(self.requeue_signals) - set(self.signals)
        if unknown:
            raise ValueError(
                'requeue_signals must be among signals: '
                f'{sorted(signal.Signals(s).name for s in unknown)}')
        self.handle_sigint = handle_sigint
        self._pid = os.getpid()
        self._received: Optional[int] = None
        self._training = False
        self._where = 'before training started'
        self._runner = None
        self._previous = {}
        self._interrupted = False
        # set at exit (before multiprocessing ends the workers)
        self._exiting = multiprocessing.Event()
        atexit.register(self._exiting.set)
        self._install()

    # -- signal handling ----------------------------------------------------
    def _install(self) -> None:
        numbers = list(self.signals)
        if self.handle_sigint:
            numbers.append(int(signal.SIGINT))
        for signum in numbers:
            try:
                self._previous[signum] = signal.signal(signum, self._on_signal)
            except ValueError:  # not the main thread: leave them alone
                self._restore()
                return

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            if handler is not None and os.getpid() == self._pid:
                signal.signal(signum, handler)
        self._previous = {}

    def _on_signal(self, signum, frame) -> None:
        if os.getpid() != self._pid:
            return  # a dataloader worker: the main process decides
        if signum == signal.SIGINT:
            if self._training and not self._interrupted:
                self._interrupted = True  # stop after this iteration
                return
            raise KeyboardInterrupt(self._interrupt_message())
        if self._received is None:
            self._received = signum
        if not self._training:
            raise TrainingInterrupted(
                f'{signal.Signals(signum).name} received {self._where}: '
                'stopped, nothing to save', signum, None)

    def _last_checkpoint(self) -> Optional[str]:
        runner = self._runner
        return None if runner is None else \
            runner.message_hub.get_info('last_ckpt')

    def _interrupt_message(self) -> str:
        last = self._last_checkpoint()
        kept = f'the last checkpoint, {last}, is kept (continue with ' \
            '--resume)' if last else 'no checkpoint was written'
        return f'Interrupted (SIGINT) {self._where}: nothing saved; {kept}'

    # -- training -----------------------------------------------------------
    def before_train(self, runner) -> None:
        self._runner = runner
        self._training = True
        self._where = f'at iteration {runner.iter + 1}'
        loops = [runner.train_loop]
        if runner._val_loop is not None and not isinstance(
                runner._val_loop, dict):
            loops.append(runner._val_loop)
        for loop in loops:
            loader = getattr(loop, 'dataloader', None)
            if loader is None or isinstance(loader.worker_init_fn,
                                            _WorkerIgnoresSignals):
                continue
            loader.worker_init_fn = _WorkerIgnoresSignals(
                loader.worker_init_fn, self.signals, self._exiting)
        _restart_started_workers(runner.train_loop)

    def after_train(self, runner) -> None:
        self._training = False
        self._restore()

    def after_run(self, runner) -> None:
        # also at a normal end (of training or testing)
        _shut_down_workers(runner)

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        loop = runner.train_loop
        if isinstance(loop, EpochBasedTrainLoop):
            self._where = (f'in epoch {runner.epoch + 1}, iteration '
                           f'{batch_idx + 1}/{len(loop.dataloader)} of the '
                           f'epoch ({runner.iter + 1} in all)')
        else:
            self._where = f'in iteration {runner.iter + 1}'

    def _stop_requested(self) -> Optional[int]:
        """The stop signal any rank received (SIGINT if only that), or
        None."""
        signum = self._received or (int(signal.SIGINT)
                                    if self._interrupted else 0)
        if is_distributed():
            flag = torch.tensor([float(signum)])
            all_reduce(flag, op='max')
            signum = int(flag.item())
        return signum or None

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        signum = self._stop_requested()
        if signum is None:
            self._remove_superseded(runner)
            return
        if signum == signal.SIGINT:
            self._interrupt()
        self._received = signum
        loop = runner.train_loop
        done = runner.iter + 1
        if isinstance(loop, EpochBasedTrainLoop):
            filename = f'epoch_{runner.epoch + 1}_iter_{done}.pth'
            where = (f'after iteration {batch_idx + 1}/{len(loop.dataloader)} '
                     f'of epoch {runner.epoch + 1} ({done} in all)')
        else:
            filename = f'iter_{done}.pth'
            where = f'after iteration {done}'
        path = self._save(runner, filename)
        barrier()  # rank 0 has written it before any rank exits
        name = signal.Signals(signum).name
        message = (f'{name} received: training stopped {where}; saved '
                   f'{path} (continue with --resume)')
        # logged before a requeue, which makes Slurm end the job's steps
        runner.logger.warning(message)
        if signum in self.requeue_signals:
            requeued = self._requeue(runner)
            if requeued:
                runner.logger.warning(requeued)
                message = f'{message}; {requeued}'
        self._stop()
        raise TrainingInterrupted(message, signum, path)

    def after_val_iter(self,
                       runner,
                       batch_idx: int,
                       data_batch=None,
                       outputs=None) -> None:
        if not self._training:
            return
        signum = self._stop_requested()
        if signum is None:
            return
        if signum == signal.SIGINT:
            self._interrupt()
        last = self._last_checkpoint()
        message = (f'{signal.Signals(signum).name} received during '
                   f'validation after epoch {runner.epoch} / iteration '
                   f'{runner.iter}: stopped; the training state is in {last}'
                   ' (continue with --resume; this validation is not '
                   'repeated)')
        runner.logger.warning(message)
        self._stop()
        raise TrainingInterrupted(message, signum, last)

    def _interrupt(self) -> None:
        message = self._interrupt_message()
        self._stop()
        raise KeyboardInterrupt(message)

    def _stop(self) -> None:
        self._training = False
        self._restore()
        if self._runner is not None:
            _shut_down_workers(self._runner)

    def _save(self, runner, filename: str) -> str:
        """Write the checkpoint where (and as) the checkpoint hook writes
        its own, and name it in ``last_checkpoint``."""
        hook = next(
            (h
             for h in runner.hooks if isinstance(h, _MMEngineCheckpointHook)),
            None)
        out_dir = getattr(hook, 'out_dir', None) or runner.work_dir
        meta = dict(epoch=runner.epoch, iter=runner.iter + 1)
        options = dict(
            save_optimizer=True,
            save_param_scheduler=True,
            meta=meta,
            by_epoch=False)
        local = isinstance(getattr(hook, 'file_backend', None), LocalBackend)
        if hook is None or local:
            path = osp.join(out_dir, filename)
        else:  # another storage backend: as mmengine writes there
            path = hook.file_backend.join_path(out_dir, filename)
        for other in runner.hooks:  # every rank's states, on every rank
            if isinstance(other, RandomStateHook):
                other.capture_position(runner)
        # before saving, so that the checkpoint's message hub names it
        runner.message_hub.update_info('last_ckpt', path)
        runner.message_hub.update_info(_PREEMPTED, path)
        if hook is None or local:
            _save_atomically(runner.save_checkpoint, out_dir, filename,
                             **options)
            if is_main_process():
                write_text_atomic(
                    osp.join(runner.work_dir, 'last_checkpoint'), path)
        else:
            runner.save_checkpoint(
                out_dir, filename, backend_args=hook.backend_args, **options)
        return path

    def _remove_superseded(self, runner) -> None:
        """Remove the checkpoint of an earlier stop once a regular one has
        been written after it."""
        path = runner.message_hub.get_info(_PREEMPTED)
        if not path or runner.message_hub.get_info('last_ckpt') == path:
            return
        runner.message_hub.update_info(_PREEMPTED, None)
        if is_main_process() and osp.isfile(path):
            os.remove(path)
            runner.logger.info(
                f'Removed {path}: {runner.message_hub.get_info("last_ckpt")} '
                'is newer')

    def after_train_epoch(self, runner) -> None:
        self._remove_superseded(runner)

    def _requeue(self, runner) -> str:
        """Requeue the Slurm batch job (rank 0); what happened, or '' on the
        other ranks."""
        job = os.environ.get('SLURM_JOB_ID')
        if not job:
            return 'not in a Slurm job: nothing requeued'
        if not is_main_process():
            return ''
        try:
            result = subprocess.run(['scontrol', 'requeue', job],
                                    capture_output=True,
                                    text=True,
                                    timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f'scontrol requeue {job} failed: {err}'
        if result.returncode != 0:
            return (f'scontrol requeue {job} failed: '
                    f'{(result.stderr or result.stdout).strip()}')
        return f'Slurm job {job} requeued'
