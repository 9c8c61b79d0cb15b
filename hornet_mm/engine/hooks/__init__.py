"""Training that survives being killed, and stops on a diverged loss.

``tools/train.py`` adds these hooks to every training config (see
:func:`hornet_mm.engine.add_default_training_hooks`):

* :class:`CheckpointHook` (replacing mmengine's ``CheckpointHook``) writes
  checkpoints atomically: to a hidden temporary file in the same directory,
  fsync'ed and renamed into place, after which ``last_checkpoint`` is
  replaced the same way, and only then are checkpoints beyond
  ``max_keep_ckpts`` removed; a previous ``best_*`` checkpoint is removed
  only after the new one is in place. A kill at any moment leaves the
  previous checkpoint and a ``last_checkpoint`` naming a complete file; a
  failed write (a full disk) is an error naming the file and leaves them
  as they were, the best checkpoint included. It also
  refuses a ``load_from`` / ``--resume`` checkpoint of another architecture,
  which mmengine would load with a warning.
* :class:`RandomStateHook` stores the random generators' states (Python,
  numpy, torch, per rank) at the end of every epoch in the checkpoint and
  restores them at the start of the next epoch, so an epoch-based run
  resumed from a checkpoint draws the same augmentations and drop-path masks
  as one that was never interrupted.
* :class:`FiniteLossHook` stops training at the first NaN or infinite loss,
  naming the epoch and iteration, before any later checkpoint is written.
* :class:`ResumeCheckHook` refuses to resume with settings the checkpoint
  would override without a word: ``--auto-scale-lr`` with another total
  batch size (the checkpoint's learning rates would win over the scaled
  ones), or a ``max_epochs`` / ``max_iters`` already reached (nothing would
  be trained). It records the run's learning-rate scaling in every
  checkpoint.
"""
from .checkpoint_hook import CheckpointHook
from .finite_loss_hook import FiniteLossHook
from .preemption_hook import PreemptionHook, TrainingInterrupted
from .random_state_hook import RandomStateHook
from .resume_check_hook import ResumeCheckHook

__all__ = [
    'CheckpointHook', 'FiniteLossHook', 'PreemptionHook', 'RandomStateHook',
    'TrainingInterrupted', 'ResumeCheckHook'
]
