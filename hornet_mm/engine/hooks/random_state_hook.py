"""Random generators' states and the data position saved with checkpoints,
restored on resume."""
import random
from typing import Dict, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info, is_distributed
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from hornet_mm.registry import HOOKS
from ..data_position import resume_epoch_at, resume_iters_at


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


def _all_ranks_states() -> list:
    state = _rng_state()
    return all_gather_object(state) if is_distributed() else [state]


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Make a resumed run repeat an uninterrupted one exactly.

    mmengine's checkpoints hold weights, optimizer, schedulers and the
    message hub but not the random generators, and resuming re-seeds them:
    the epochs after a resume draw other crops, flips, mixup ratios and
    drop-path masks than the same epochs of an uninterrupted run. Nor do
    they hold the data position inside an epoch: mmengine restarts an
    interrupted epoch from its first batch, and advances an
    iteration-based run by loading every batch trained so far.

    * At the end of every training epoch this hook takes the generators'
      states (Python, numpy, torch and CUDA; one set per rank), writes them
      into the checkpoint (``hornet_mm_rng_state``) and sets them at the
      start of the next epoch, in the uninterrupted run as in the resumed
      one; whatever validation draws in between no longer matters.
    * A checkpoint written between two iterations (by
      :class:`PreemptionHook`, by an iteration-interval ``CheckpointHook``,
      and every checkpoint of an ``IterBasedTrainLoop``) also gets the
      position (``hornet_mm_data_position``: epoch, batch within it,
      iteration, batches per epoch) and the states of that moment: of every
      rank for :class:`PreemptionHook`'s checkpoints and in one-process
      runs; other checkpoints of distributed runs hold the position only
      (the states of the other ranks are not gathered every iteration).
      Resuming from it continues at the next batch of the same order: the
      batches already trained are skipped at the batch sampler, without
      loading them (:mod:`hornet_mm.engine.data_position`), and the states
      are set just before the first new batch is drawn. In iteration-based runs
      validation leaves the training generators as it found them, so a
      checkpoint followed by a validation resumes exactly too.

    Exact means equal weights with ``num_workers=0`` and deterministic
    kernels. With worker processes the same samples come in the same order,
    but the workers' augmentation draws are not restored (their generators
    live in the workers). States or positions saved by a run with another
    number of processes or another number of batches per epoch are not
    restored (logged; the epoch then restarts at its first batch, as in
    mmengine).
    """

    priority = 'NORMAL'  # before the CheckpointHook (VERY_LOW) saves

    def __init__(self) -> None:
        self._state: Optional[Dict] = None
        self._position: Optional[Dict] = None
        self._batch = 0  # batches of the current epoch done
        self._training = False
        self._before_val = None
        self._captured: Optional[Dict] = None

    # -- epoch boundaries -------------------------------------------------
    def after_train_epoch(self, runner) -> None:
        self._batch = 0
        self._state = dict(epoch=runner.epoch + 1, ranks=_all_ranks_states())

    def before_train_epoch(self, runner) -> None:
        # only the state taken at the end of the epoch before this one
        if self._state is None or self._state['epoch'] != runner.epoch:
            return
        rank, _ = get_dist_info()
        _set_rng_state(self._state['ranks'][rank])

    # -- between iterations -----------------------------------------------
    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        self._batch = batch_idx + 1

    def before_train(self, runner) -> None:
        self._training = True
        position, self._position = self._position, None
        if position is None:
            return
        loop = runner.train_loop
        rank, _ = get_dist_info()

        def restore() -> None:
            if position['ranks'] is not None:
                _set_rng_state(position['ranks'][rank])

        if isinstance(loop, IterBasedTrainLoop):
            if position['iter'] == runner.iter and runner.iter > 0:
                if resume_iters_at(loop, runner.iter, restore):
                    runner.logger.info(
                        f'Resuming at iteration {runner.iter}: the batches '
                        'before it are skipped without loading them')
            return
        if not isinstance(loop, EpochBasedTrainLoop):
            return
        batches = len(loop.dataloader)
        if position['epoch'] != runner.epoch or position['iter'] != \
                runner.iter:
            return
        if position['batches_per_epoch'] != batches:
            runner.logger.warning(
                f'The checkpoint was written after batch {position["batch"]} '
                f'of {position["batches_per_epoch"]} of epoch '
                f'{runner.epoch + 1}; an epoch of this run has {batches} '
                'batches (another batch size or dataset?), so the epoch '
                'restarts at its first batch')
            return
        resume_epoch_at(loop, position['batch'], restore)
        if position['batch'] >= batches:
            runner.logger.info(
                f'Resuming at the end of epoch {runner.epoch + 1}: all its '
                f'{batches} batches were trained')
        else:
            runner.logger.info(
                f'Resuming in the middle of epoch {runner.epoch + 1}: at '
                f'batch {position["batch"] + 1} of {batches}, the earlier '
                'ones skipped without loading them')

    def after_train(self, runner) -> None:
        self._training = False

    def before_val(self, runner) -> None:
        if self._training and isinstance(runner.train_loop,
                                         IterBasedTrainLoop):
            self._before_val = _rng_state()

    def after_val(self, runner) -> None:
        state, self._before_val = self._before_val, None
        if state is not None:
            _set_rng_state(state)

    # -- checkpoints --------------------------------------------------------
    def capture_position(self, runner) -> None:
        """Take every rank's generator states now, for the checkpoint about
        to be written (a collective: all ranks call it; only rank 0 runs the
        ``before_save_checkpoint`` hooks)."""
        self._captured = dict(iter=runner.iter, ranks=_all_ranks_states())

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._state is not None:
            checkpoint['hornet_mm_rng_state'] = self._state
        captured, self._captured = self._captured, None
        if not self._training:
            return
        loop = runner.train_loop
        between = isinstance(
            loop, IterBasedTrainLoop) or (isinstance(loop, EpochBasedTrainLoop)
                                          and self._batch > 0)
        if not between:
            return
        if captured is not None and captured['iter'] == runner.iter:
            ranks = captured['ranks']
        elif not is_distributed():
            # written during a validation (a step checkpoint saved again
            # with its new best): the states that validation will give back
            ranks = [self._before_val or _rng_state()]
        else:  # the other ranks' states are not here: the position only
            ranks = None
        meta = checkpoint.get('meta', {})
        checkpoint['hornet_mm_data_position'] = dict(
            epoch=int(meta.get('epoch', runner.epoch)),
            iter=int(meta.get('iter', runner.iter + 1)),
            batch=self._batch,
            batches_per_epoch=len(loop.dataloader),
            ranks=ranks)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        _, world_size = get_dist_info()
        state = checkpoint.get('hornet_mm_rng_state')
        if state is not None:
            if len(state['ranks']) == world_size:
                self._state = state
            else:
                runner.logger.warning(
                    f'The checkpoint holds random states of '
                    f'{len(state["ranks"])} processes, this run has '
                    f'{world_size}: they are not restored')
        position = checkpoint.get('hornet_mm_data_position')
        if position is not None:
            ranks = position['ranks']
            if ranks is not None and len(ranks) != world_size:
                runner.logger.warning(
                    f'The checkpoint was written by {len(ranks)} processes, '
                    f'this run has {world_size}: it continues at the '
                    'position, without their random states')
                position = dict(position, ranks=None)
            self._position = position
