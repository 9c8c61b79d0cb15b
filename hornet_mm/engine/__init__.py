from .layer_decay import HorNetLayerDecayOptimizerConstructor
from .optim_wrapper import AmpOptimWrapper

__all__ = ['AmpOptimWrapper', 'HorNetLayerDecayOptimizerConstructor']
