"""hornet_mm's registries: children of mmengine's root registries.

Because they are children of the root, ``type='hornet_mm.HorNet'`` resolves
from any other scope (mmdet, mmseg, mmpretrain): mmengine imports this module
on seeing the ``hornet_mm.`` prefix and then ``hornet_mm.models`` lazily
through ``locations``.
"""
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

__all__ = ['MODELS']

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='hornet_mm',
    locations=['hornet_mm.models'])
