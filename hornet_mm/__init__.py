"""HorNet models and recipes for the OpenMMLab 2.0 stack.

Importing the package registers nothing in mmdet, mmseg or mmpretrain (it
imports none of them). Its one global effect is deliberate: it lets
``torch.load``'s safe mode read mmengine checkpoints (see
:mod:`hornet_mm.utils.safe_load`), so resuming and ``load_from`` work on
torch >= 2.6 without opening unpickling to arbitrary objects.
"""
from .utils.safe_load import allow_mmengine_checkpoints
from .version import __version__

allow_mmengine_checkpoints()

__all__ = ['__version__']
