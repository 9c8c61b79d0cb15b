from .hooks import (CheckpointHook, FiniteLossHook, PreemptionHook,
                    RandomStateHook, ResumeCheckHook, TrainingInterrupted)
from .layer_decay import HorNetLayerDecayOptimizerConstructor
from .optim_wrapper import AmpOptimWrapper
from .resume import (CheckpointError, ResumeError, check_checkpoint_finite,
                     check_checkpoint_fits, checkpoint_problem,
                     find_resume_checkpoint)
from .training import add_default_training_hooks
from .work_dir_lock import WorkDirInUse, WorkDirLock, lock_work_dir

__all__ = [
    'AmpOptimWrapper', 'HorNetLayerDecayOptimizerConstructor',
    'CheckpointHook', 'FiniteLossHook', 'PreemptionHook', 'RandomStateHook',
    'ResumeError', 'TrainingInterrupted', 'add_default_training_hooks',
    'check_checkpoint_fits', 'checkpoint_problem', 'find_resume_checkpoint',
    'ResumeCheckHook', 'WorkDirInUse', 'WorkDirLock', 'lock_work_dir',
    'CheckpointError', 'check_checkpoint_finite'
]
