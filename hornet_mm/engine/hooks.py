"""Training that survives being killed, and stops on a diverged loss.

``tools/train.py`` adds these hooks to every training config (see
:func:`add_default_training_hooks`):

* :class:`CheckpointHook` (replacing mmengine's ``CheckpointHook``) writes
  checkpoints atomically: to a hidden temporary file in the same directory,
  fsync'ed and renamed into place, after which ``last_checkpoint`` is
  replaced the same way, and only then are checkpoints beyond
  ``max_keep_ckpts`` removed. A kill at any moment leaves the previous
  checkpoint and a ``last_checkpoint`` naming a complete file. It also
  refuses a ``load_from`` / ``--resume`` checkpoint of another architecture,
  which mmengine would load with a warning.
* :class:`RandomStateHook` stores the random generators' states (Python,
  numpy, torch, per rank) at the end of every epoch in the checkpoint and
  restores them at the start of the next epoch, so an epoch-based run
  resumed from a checkpoint draws the same augmentations and drop-path masks
  as one that was never interrupted.
* :class:`FiniteLossHook` stops training at the first NaN or infinite loss,
  naming the epoch and iteration, before any later checkpoint is written.

:func:`find_resume_checkpoint` is what ``--resume`` without a path resumes
from: the checkpoint ``last_checkpoint`` names if it is complete, else the
newest complete ``epoch_*.pth`` / ``iter_*.pth`` (with a warning), and an
error rather than a fresh start when checkpoints exist but none is complete.
"""
import logging
import math
import os
import os.path as osp
import random
import re
import shutil
import zipfile
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.dist import (all_gather_object, all_reduce, get_dist_info,
                           is_distributed, is_main_process)
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook as _MMEngineCheckpointHook
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop

from hornet_mm.registry import HOOKS

__all__ = [
    'CheckpointHook', 'RandomStateHook', 'FiniteLossHook', 'ResumeError',
    'find_resume_checkpoint', 'checkpoint_problem', 'check_checkpoint_fits',
    'add_default_training_hooks'
]

CHECKPOINT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')
# ".<name>.tmp<pid>": what an atomic write of <name> (a checkpoint or
# last_checkpoint) writes first; hidden, and not a *.pth name
TEMP_NAME = re.compile(r'^\.(.+\.pth|last_checkpoint)\.tmp\d+$')


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` without a moment of partial content."""
    tmp = osp.join(
        osp.dirname(path), f'.{osp.basename(path)}.tmp{os.getpid()}')
    with open(tmp, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_path(osp.dirname(path) or '.')


def _save_atomically(save, out_dir: str, filename: str, *args,
                     **kwargs) -> None:
    """``save(out_dir, filename, ...)`` (a ``Runner.save_checkpoint``) to a
    temporary name, then fsync and rename it to ``filename``."""
    tmp_name = f'.{filename}.tmp{os.getpid()}'
    tmp, final = osp.join(out_dir, tmp_name), osp.join(out_dir, filename)
    try:
        save(out_dir, tmp_name, *args, **kwargs)
        if not is_main_process():  # Runner.save_checkpoint is master-only
            return
        _fsync_path(tmp)
        os.replace(tmp, final)
    except BaseException:
        if osp.exists(tmp):  # e.g. a full disk: no partial file is left
            os.remove(tmp)
        raise
    _fsync_path(out_dir)


@contextmanager
def _atomic_saves(runner) -> Iterator[None]:
    """Route ``runner.save_checkpoint`` through :func:`_save_atomically`."""
    patched = 'save_checkpoint' in vars(runner)
    save = runner.save_checkpoint

    def atomic(out_dir, filename, *args, **kwargs):
        _save_atomically(save, out_dir, filename, *args, **kwargs)

    runner.save_checkpoint = atomic
    try:
        yield
    finally:
        if patched:
            runner.save_checkpoint = save
        else:
            del runner.save_checkpoint


@HOOKS.register_module()
class CheckpointHook(_MMEngineCheckpointHook):
    """mmengine's ``CheckpointHook`` with crash-safe writes.

    Same arguments and files. On a local file system:

    * every checkpoint (``epoch_*``/``iter_*`` and ``best_*``) is written to
      ``.<name>.tmp<pid>`` in the same directory, fsync'ed and renamed, so a
      file with a checkpoint name is always complete;
    * ``last_checkpoint`` is replaced atomically after that rename;
    * checkpoints beyond ``max_keep_ckpts`` are removed after the new one is
      in place (mmengine removes them first, so a kill while writing could
      leave no checkpoint at all with ``max_keep_ckpts=1``);
    * temporary files left by a killed run are removed when training starts.

    mmengine removes the previous ``best_*`` checkpoint before writing the
    new one; that order is kept (a kill in between leaves no best file, never
    a truncated one). Other storage backends behave as in mmengine.

    It also refuses a ``load_from`` / ``--resume`` checkpoint that does not
    fit the model (:func:`check_checkpoint_fits`).
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._atomic = isinstance(self.file_backend, LocalBackend)
        if not (self._atomic and is_main_process()):
            return
        for directory in {self.out_dir, runner.work_dir}:
            names = os.listdir(directory) if osp.isdir(directory) else []
            for name in names:
                if TEMP_NAME.match(name):
                    os.remove(osp.join(directory, name))
                    runner.logger.warning(
                        f'Removed {name} from {directory}: a file a killed '
                        'run did not finish writing')

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not getattr(self, '_atomic', False):
            return super()._save_checkpoint_with_step(runner, step, meta)
        stale: List[str] = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale.append(
                    self.filename_tmpl.format(self.keep_ckpt_ids.popleft()))
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        _save_atomically(
            runner.save_checkpoint,
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        write_text_atomic(
            osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for name in stale:
            path = osp.join(self.out_dir, name)
            if osp.isfile(path):
                os.remove(path)
            elif osp.isdir(path):  # deepspeed checkpoints are directories
                shutil.rmtree(path)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # before mmengine's non-strict load, which would only log a warning
        check_checkpoint_fits(
            runner.model,
            checkpoint,
            source=getattr(runner, '_load_from', None))

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not getattr(self, '_atomic', False):
            return super()._save_best_checkpoint(runner, metrics)
        with _atomic_saves(runner):
            super()._save_best_checkpoint(runner, metrics)


def check_checkpoint_fits(model: torch.nn.Module,
                          checkpoint: dict,
                          source: Optional[str] = None,
                          min_fraction: float = 0.5) -> None:
    """Refuse a checkpoint that matches less than ``min_fraction`` of the
    model's tensors (by name and shape).

    mmengine loads ``load_from`` and ``--resume`` checkpoints non-strictly:
    a checkpoint of another architecture only logs the mismatches and
    training goes on from (mostly) random weights. A new head for fine-tuning
    or resized filters leave most tensors matching and pass.

    Raises:
        ValueError: naming ``source`` and a few missing / mismatched keys.
    """
    model = getattr(model, 'module', model)  # DDP and other wrappers
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict):
        return
    state = {
        (k[len('module.'):] if k.startswith('module.') else k): v
        for k, v in state.items()
    }
    own = model.state_dict()
    if not own:
        return
    missing, mismatched, fitting = [], [], 0
    for key, value in own.items():
        theirs = state.get(key)
        if not isinstance(theirs, torch.Tensor):
            missing.append(key)
        elif tuple(theirs.shape) != tuple(value.shape):
            mismatched.append(f'{key} {tuple(theirs.shape)} in the '
                              f'checkpoint, {tuple(value.shape)} in the model')
        else:
            fitting += 1
    if fitting >= min_fraction * len(own):
        return
    details = []
    if mismatched:
        details.append(f'{len(mismatched)} of other shapes, e.g. ' +
                       '; '.join(mismatched[:3]))
    if missing:
        details.append(f'{len(missing)} missing, e.g. ' +
                       ', '.join(missing[:3]))
    raise ValueError(
        f'Checkpoint {source or ""} does not fit the model: only {fitting} '
        f'of its {len(own)} tensors are in it with the same shape '
        f'({"; ".join(details)}). Is it a checkpoint of another '
        'architecture?')


def _rng_state() -> dict:
    """The global generators' states, as tensors and plain containers (so
    that ``torch.load``'s safe mode reads them)."""
    np_state = np.random.get_state(legacy=False)
    state = dict(
        python=list(random.getstate()),
        numpy=dict(
            bit_generator=np_state['bit_generator'],
            key=torch.from_numpy(np_state['state']['key'].astype(np.int64)),
            pos=int(np_state['state']['pos']),
            has_gauss=int(np_state['has_gauss']),
            gauss=float(np_state['gauss'])),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    np_state = state['numpy']
    np.random.set_state(
        dict(
            bit_generator=np_state['bit_generator'],
            state=dict(
                key=np_state['key'].numpy().astype(np.uint32),
                pos=np_state['pos']),
            has_gauss=np_state['has_gauss'],
            gauss=np_state['gauss']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Make a resumed epoch-based run repeat an uninterrupted one exactly.

    mmengine's checkpoints hold weights, optimizer, schedulers and the
    message hub but not the random generators, and resuming re-seeds them:
    the epochs after a resume draw other crops, flips, mixup ratios and
    drop-path masks than the same epochs of an uninterrupted run. This hook
    takes the generators' states (Python, numpy, torch and CUDA; one set per
    rank) at the end of every training epoch, writes them into the
    checkpoint (``hornet_mm_rng_state``), and sets them at the start of the
    next epoch, in the uninterrupted run as in the resumed one; whatever
    validation draws in between no longer matters. States saved by a run
    with another number of processes are not restored (logged).
    """

    priority = 'NORMAL'  # before the CheckpointHook (VERY_LOW) saves

    def __init__(self) -> None:
        self._state: Optional[Dict] = None

    def after_train_epoch(self, runner) -> None:
        state = _rng_state()
        states = all_gather_object(state) if is_distributed() else [state]
        self._state = dict(epoch=runner.epoch + 1, ranks=states)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._state is not None:
            checkpoint['hornet_mm_rng_state'] = self._state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('hornet_mm_rng_state')
        if state is None:
            return
        rank, world_size = get_dist_info()
        if len(state['ranks']) != world_size:
            runner.logger.warning(
                f'The checkpoint holds random states of '
                f'{len(state["ranks"])} processes, this run has '
                f'{world_size}: they are not restored')
            return
        self._state = state

    def before_train_epoch(self, runner) -> None:
        # only the state taken at the end of the epoch before this one
        if self._state is None or self._state['epoch'] != runner.epoch:
            return
        rank, _ = get_dist_info()
        _set_rng_state(self._state['ranks'][rank])


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training at the first NaN or infinite loss.

    Runs right after the optimizer step of every iteration, before the
    logger and the checkpoint hook see it, and raises
    :class:`FloatingPointError` naming the epoch, the iteration and the
    non-finite values; the last checkpoint, written before that iteration,
    is left as it was. In a distributed run the ranks agree (one
    ``all_reduce`` of a flag per iteration), so all of them stop together.

    Args:
        keys: Names in the model's outputs to check; default all whose name
            contains ``loss``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, keys: Optional[List[str]] = None) -> None:
        self.keys = keys

    def _bad_values(self, outputs) -> Dict[str, float]:
        bad = {}
        for name, value in (outputs or {}).items():
            if self.keys is not None and name not in self.keys:
                continue
            if self.keys is None and 'loss' not in name:
                continue
            if isinstance(value, torch.Tensor):
                if value.numel() != 1:
                    value = value.float().sum()
                value = value.item()
            if isinstance(value, (int, float)) and not math.isfinite(value):
                bad[name] = float(value)
        return bad

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        bad = self._bad_values(outputs)
        found = bool(bad)
        if is_distributed():
            flag = torch.tensor([float(found)])
            all_reduce(flag)
            found = flag.item() > 0
        if not found:
            return
        loop = runner.train_loop
        if isinstance(loop, EpochBasedTrainLoop):
            where = (f'epoch {runner.epoch + 1}, iteration {batch_idx + 1}/'
                     f'{len(loop.dataloader)} of the epoch (iteration '
                     f'{runner.iter + 1} in all)')
        else:
            where = f'iteration {runner.iter + 1}'
        values = ', '.join(f'{k}={v}' for k, v in bad.items()) or \
            'on another process'
        last = runner.message_hub.get_info('last_ckpt')
        kept = f'the last checkpoint, {last}, is kept' if last else \
            'no checkpoint had been written'
        message = (f'Non-finite loss at {where}: {values}. Training stopped; '
                   f'{kept}. Lower the learning rate, clip gradients or '
                   'check the data of this iteration.')
        runner.logger.error(message)
        raise FloatingPointError(message)


class ResumeError(RuntimeError):
    """``--resume`` found checkpoints but none it can resume from."""


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete checkpoint file, or None if it is.

    torch writes a zip archive whose directory comes last, so a file cut
    short by a kill or a full disk has none; only that structure is checked
    (the tensors are not read).
    """
    if not osp.exists(path):
        return 'does not exist'
    if osp.isdir(path):
        return None  # sharded (deepspeed/FSDP) checkpoints: not checked
    if osp.getsize(path) == 0:
        return 'is empty'
    with open(path, 'rb') as f:
        is_zip = f.read(4) == b'PK\x03\x04'
    if not is_zip:
        try:  # torch's legacy (non-zip) format
            torch.load(path, map_location='cpu', weights_only=True)
        except Exception as err:
            return f'cannot be read ({type(err).__name__}: {err})'
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as err:
        return f'is truncated or corrupt ({err})'
    if not any(name.endswith('/data.pkl') for name in names):
        return 'is a zip file but not a PyTorch checkpoint'
    return None


def _step_checkpoints(work_dir: str) -> List[str]:
    """``epoch_N.pth`` / ``iter_N.pth`` files of ``work_dir``, newest
    first."""
    if not osp.isdir(work_dir):
        return []
    found = []
    for name in os.listdir(work_dir):
        match = CHECKPOINT_NAME.match(name)
        if match:
            path = osp.join(work_dir, name)
            found.append((int(match.group(2)), osp.getmtime(path), path))
    return [path for _, _, path in sorted(found, reverse=True)]


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` (without a path) continues from.

    * ``last_checkpoint`` names a complete file: that file (also found by
      name in ``work_dir`` when the directory was moved);
    * it names a missing, empty or truncated file: the newest complete
      ``epoch_*.pth`` / ``iter_*.pth`` of ``work_dir``, with a warning;
    * no ``last_checkpoint``: the newest complete ``epoch_*``/``iter_*``
      file, or None (a fresh start) when there is none at all.

    Raises:
        ResumeError: checkpoints (or ``last_checkpoint``) exist but none is
            complete. Training never silently starts over.
    """
    last_file = osp.join(work_dir, 'last_checkpoint')
    candidates = _step_checkpoints(work_dir)
    problems = {}
    named = None
    if osp.isfile(last_file):
        with open(last_file) as f:
            named = f.read().strip()
        if named:
            local = osp.join(work_dir, osp.basename(named))
            for path in dict.fromkeys([named, local]):
                problems[path] = checkpoint_problem(path)
                if problems[path] is None:
                    return path
        else:
            problems[last_file] = 'is empty'
    for path in candidates:
        if path not in problems:
            problems[path] = checkpoint_problem(path)
        if problems[path] is None:
            if named is not None:
                print_log(
                    f'{last_file} names {named or "nothing"}, which '
                    f'{problems.get(named, problems.get(last_file))}; '
                    f'resuming from {path}, the newest complete checkpoint '
                    'instead',
                    logger='current',
                    level=logging.WARNING)
            return path
    if named is None and not candidates:
        return None
    listing = '; '.join(f'{path} {problem}'
                        for path, problem in problems.items())
    raise ResumeError(
        f'Nothing to resume from in {work_dir}: {listing}. Refusing to start '
        'over; resume from a checkpoint file with --resume PATH, or remove '
        f'{last_file} and the broken files to train from scratch.')


_DEFAULT_HOOKS = dict(
    finite_loss='hornet_mm.FiniteLossHook',
    random_state='hornet_mm.RandomStateHook')


def add_default_training_hooks(cfg: Config) -> None:
    """Make hornet_mm's safety hooks part of a training config.

    mmengine's ``CheckpointHook`` (``type='CheckpointHook'``) becomes
    :class:`CheckpointHook` with the same settings, and
    ``default_hooks.finite_loss`` / ``default_hooks.random_state`` are
    added unless the config sets them or lists the hook in
    ``custom_hooks``. Set such a key to None to leave the hook out, or the
    checkpoint hook's type to ``'mmengine.CheckpointHook'`` to keep
    mmengine's.
    """
    hooks = cfg.get('default_hooks')
    hooks = ConfigDict() if hooks is None else hooks
    checkpoint = hooks.get('checkpoint', dict(type='CheckpointHook'))
    if checkpoint is not None and checkpoint.get('type') == 'CheckpointHook':
        checkpoint = ConfigDict(checkpoint)
        checkpoint.type = 'hornet_mm.CheckpointHook'
        checkpoint.setdefault('interval', 1)
        hooks.checkpoint = checkpoint
    custom = [
        str(hook.get('type', '')).split('.')[-1]
        for hook in cfg.get('custom_hooks') or []
    ]
    for name, hook_type in _DEFAULT_HOOKS.items():
        if name in hooks:
            if hooks[name] is None:  # switched off
                hooks.pop(name)
        elif hook_type.split('.')[-1] not in custom:
            hooks[name] = ConfigDict(type=hook_type)
    cfg.default_hooks = hooks
