"""hornet_mm's registries: children of mmengine's root registries.

Because they are children of the root, ``type='hornet_mm.HorNet'`` resolves
from any other scope (mmdet, mmseg, mmpretrain): mmengine imports this module
on seeing the ``hornet_mm.`` prefix and then the library-independent modules
lazily through ``locations``. Modules built on one library (the mmdet neck,
the mmseg head, ...) are imported only when one of their names is asked for,
so that using HorNet from mmpretrain never imports mmdet or mmseg.
"""
from importlib import import_module
from typing import Any, Dict, Optional

from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry


class LazyRegistry(Registry):
    """A registry that imports a name's module the first time it is asked for.

    Args:
        lazy: Registered name -> module that registers it.
        *args, **kwargs: :class:`mmengine.registry.Registry` arguments.
    """

    def __init__(self,
                 *args,
                 lazy: Optional[Dict[str, str]] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = dict(lazy or {})

    def get(self, key: str) -> Any:
        obj = super().get(key)
        if obj is None:
            scope, name = self.split_scope_key(key)
            if scope in (None, self.scope) and name in self._lazy:
                import_module(self._lazy.pop(name))
                obj = super().get(key)
        return obj


__all__ = [
    'DATASETS', 'HOOKS', 'MODELS', 'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS', 'TRANSFORMS'
]

MODELS = LazyRegistry(
    'model',
    parent=MMENGINE_MODELS,
    scope='hornet_mm',
    locations=['hornet_mm.models'],
    lazy={
        'HorFPN': 'hornet_mm.models.necks',
        'GNUPerHead': 'hornet_mm.models.decode_heads',
        'SingleRoIExtractor': 'hornet_mm.models.roi_heads'
    })
DATASETS = LazyRegistry(
    'dataset',
    parent=MMENGINE_DATASETS,
    scope='hornet_mm',
    locations=['hornet_mm.datasets'],
    lazy={
        'ADE20KDataset': 'hornet_mm.datasets.segmentation',
        'ADE20KStyleDataset': 'hornet_mm.datasets.segmentation',
        'CocoDataset': 'hornet_mm.datasets.coco',
        'ImageNet': 'hornet_mm.datasets.imagenet'
    })
TRANSFORMS = LazyRegistry(
    'transform',
    parent=MMENGINE_TRANSFORMS,
    scope='hornet_mm',
    locations=['hornet_mm.datasets'],
    lazy={'LoadSegAnnotations': 'hornet_mm.datasets.segmentation'})
OPTIM_WRAPPERS = Registry(
    'optim_wrapper',
    parent=MMENGINE_OPTIM_WRAPPERS,
    scope='hornet_mm',
    locations=['hornet_mm.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='hornet_mm',
    locations=['hornet_mm.engine'])
HOOKS = Registry(
    'hook',
    parent=MMENGINE_HOOKS,
    scope='hornet_mm',
    locations=['hornet_mm.engine'])
