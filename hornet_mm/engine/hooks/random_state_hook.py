"""Random generators' states saved with checkpoints and restored on resume."""
import random
from typing import Dict, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info, is_distributed
from mmengine.hooks import Hook

from hornet_mm.registry import HOOKS


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
