from .optim_wrapper import AmpOptimWrapper

__all__ = ['AmpOptimWrapper']
