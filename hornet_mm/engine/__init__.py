from .hooks import CheckpointHook, FiniteLossHook, RandomStateHook
from .layer_decay import HorNetLayerDecayOptimizerConstructor
from .optim_wrapper import AmpOptimWrapper
from .resume import (ResumeError, check_checkpoint_fits, checkpoint_problem,
                     find_resume_checkpoint)
from .training import add_default_training_hooks

__all__ = [
    'AmpOptimWrapper', 'HorNetLayerDecayOptimizerConstructor',
    'CheckpointHook', 'FiniteLossHook', 'RandomStateHook', 'ResumeError',
    'add_default_training_hooks', 'check_checkpoint_fits',
    'checkpoint_problem', 'find_resume_checkpoint'
]
