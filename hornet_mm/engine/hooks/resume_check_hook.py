"""Refuse to resume with settings the checkpoint would silently override."""
import math
from typing import Optional

from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import DataLoader

from hornet_mm.registry import HOOKS
from ..resume import ResumeError

__all__ = ['ResumeCheckHook']

# checkpoint meta key: the learning-rate scaling the run trained with
LR_SCALING = 'hornet_mm_lr_scaling'


def _lr_scaling(runner) -> Optional[dict]:
    """What ``Runner.scale_lr`` applies to this run (``auto_scale_lr``
    switched on), or None (off): the factor and the batch sizes behind it."""
    config = runner.auto_scale_lr
    if not config or not config.get('enable', False):
        return None
    loader = runner._train_dataloader  # as Runner.scale_lr reads it
    batch = loader.batch_size if isinstance(loader, DataLoader) \
        else loader['batch_size']
    total = get_world_size() * batch
    base = config['base_batch_size']
    return dict(factor=total / base, batch_size=total, base_batch_size=base)


def _explain(scaling: Optional[dict]) -> str:
    if not scaling:
        return 'not scaled (auto_scale_lr off)'
    return (f"scaled by {scaling['factor']} (total batch size "
            f"{scaling['batch_size']} over base_batch_size "
            f"{scaling['base_batch_size']})")


@HOOKS.register_module()
class ResumeCheckHook(Hook):
    """Refuse a resumed run whose settings the checkpoint would override.

    mmengine's ``Runner.resume`` restores the optimizer's and the schedulers'
    states after the run has applied its own settings, so two changes on a
    resumed run would be logged, or accepted, and then not happen:

    * ``--auto-scale-lr`` with another total batch size (more or fewer
      processes, another ``batch_size``): ``Runner.scale_lr`` logs "Scaling
      the original LR by 0.5", and the checkpoint's learning rates, and the
      schedulers' base values, then replace the scaled ones. The hook
      records the scaling a run trains with in every checkpoint
      (``meta['hornet_mm_lr_scaling']``: factor, total and base batch
      size) and refuses, naming both, a resume with ``auto_scale_lr`` on
      whose factor differs. Rescaling the restored optimizer and schedulers
      instead is not done: schedulers keep absolute values (``eta_min``,
      warm-up ratios, per-group learning rates) that a factor cannot be
      applied to in general. A resume with ``auto_scale_lr`` off goes on
      with the checkpoint's learning rates as they are (logged), as
      resuming does in mmengine; a checkpoint that does not record its
      scaling counts as unscaled.
    * a ``max_epochs`` (epoch-based loops) or ``max_iters`` (other loops)
      at or below what the checkpoint has done: the loop would end at once,
      with exit status 0, having trained nothing. It is an error naming
      both numbers.

    Both checks run when the checkpoint is loaded, before it changes
    anything in the work directory. Checkpoints loaded with ``load_from``
    (fine-tuning, no optimizer state restored) are not checked.
    """

    # after CheckpointHook's check that the checkpoint fits the model at all
    priority = 'LOWEST'

    def __init__(self) -> None:
        self._scaling: Optional[dict] = None
        self._resumed = False

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return
        source = getattr(runner, '_load_from', None) or 'the checkpoint'
        meta = checkpoint.get('meta') or {}
        self._check_progress(runner, meta, source)
        stored = meta.get(LR_SCALING)
        wanted = _lr_scaling(runner)
        trained = stored['factor'] if stored else 1.0
        if wanted is not None and not math.isclose(
                wanted['factor'], trained, rel_tol=1e-6):
            raise ResumeError(
                f'Cannot resume from {source} with --auto-scale-lr: its '
                f'learning rate was {_explain(stored)}, this run scales it '
                f"by {wanted['factor']} (total batch size "
                f"{wanted['batch_size']} over base_batch_size "
                f"{wanted['base_batch_size']}), but resuming restores the "
                "optimizer's and schedulers' learning rates from the "
                'checkpoint, so that scaling would not be applied. Resume '
                'with the total batch size the checkpoint was trained with, '
                "without --auto-scale-lr to go on with the checkpoint's "
                'learning rates, or start a new run from its weights '
                '(load_from without --resume).')
        if wanted is None and stored:
            runner.logger.info(
                f'Resuming with the learning rates of {source}, which '
                f'were {_explain(stored)}')
        self._scaling = stored
        self._resumed = True

    def _check_progress(self, runner, meta: dict, source: str) -> None:
        loop = runner.train_loop
        if isinstance(loop, EpochBasedTrainLoop):
            key, unit, done = 'max_epochs', 'epoch', meta.get('epoch')
        else:
            key, unit, done = 'max_iters', 'iteration', meta.get('iter')
        end = getattr(loop, key, None)
        if done is None or end is None or done < end:
            return
        raise ResumeError(
            f'Nothing to train: {source} was saved after {unit} {done} and '
            f'this run ends with {key}={end}. Set {key} above {done} to '
            'train on from it, or choose another --work-dir for a new run.')

    def before_train(self, runner) -> None:
        if not self._resumed:  # a new run: what scale_lr applied
            self._scaling = _lr_scaling(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._scaling:
            checkpoint.setdefault('meta', {})[LR_SCALING] = dict(self._scaling)
