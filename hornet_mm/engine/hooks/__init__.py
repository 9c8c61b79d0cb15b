"""Training that survives being killed, and stops on a diverged loss.

``tools/train.py`` adds these hooks to every training config (see
:func:`hornet_mm.engine.add_default_training_hooks`):

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
"""
from .checkpoint_hook import CheckpointHook
from .finite_loss_hook import FiniteLossHook
from .random_state_hook import RandomStateHook

__all__ = ['CheckpointHook', 'FiniteLossHook', 'RandomStateHook']
