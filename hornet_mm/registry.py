"""hornet_mm's registries: children of mmengine's root registries.

Because they are children of the root, ``type='hornet_mm.HorNet'`` resolves
from any other scope (mmdet, mmseg, mmpretrain): mmengine imports this module
on seeing the ``hornet_mm.`` prefix and then ``hornet_mm.models`` lazily
through ``locations``.
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

__all__ = ['DATASETS', 'MODELS', 'OPTIM_WRAPPERS', 'TRANSFORMS']

MODELS = Registry(
    'model',
    parent=MMENGINE_MODELS,
    scope='hornet_mm',
    locations=['hornet_mm.models'])
DATASETS = Registry(
    'dataset',
    parent=MMENGINE_DATASETS,
    scope='hornet_mm',
    locations=['hornet_mm.datasets'])
TRANSFORMS = Registry(
    'transform',
    parent=MMENGINE_TRANSFORMS,
    scope='hornet_mm',
    locations=['hornet_mm.datasets'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper',
    parent=MMENGINE_OPTIM_WRAPPERS,
    scope='hornet_mm',
    locations=['hornet_mm.engine'])
