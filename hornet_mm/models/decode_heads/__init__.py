from .gn_uper_head import GNUPerHead

__all__ = ['GNUPerHead']
