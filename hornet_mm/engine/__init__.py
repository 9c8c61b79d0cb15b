from .hooks import (CheckpointHook, FiniteLossHook, RandomStateHook,
                    ResumeError, add_default_training_hooks,
                    find_resume_checkpoint)
from .layer_decay import HorNetLayerDecayOptimizerConstructor
from .optim_wrapper import AmpOptimWrapper

__all__ = [
    'AmpOptimWrapper', 'HorNetLayerDecayOptimizerConstructor',
    'CheckpointHook', 'FiniteLossHook', 'RandomStateHook', 'ResumeError',
    'add_default_training_hooks', 'find_resume_checkpoint'
]
