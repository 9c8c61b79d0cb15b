"""Checked datasets and loading. The dataset classes built on one library
(``ImageNet`` on mmpretrain, ``CocoDataset`` on mmdet, the ADE20K classes on
mmseg) are registered lazily (see :mod:`hornet_mm.registry`) and imported
from their modules; this package itself needs only mmcv."""
from .loading import ImageDecodeError, LoadImageFromFile, SkipUndecodableImages

__all__ = ['ImageDecodeError', 'LoadImageFromFile', 'SkipUndecodableImages']
