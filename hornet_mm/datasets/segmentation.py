"""Semantic-segmentation datasets and label loading that refuse bad input.

mmseg 1.x reads what it is given: an annotation file that does not exist
fails mid-training, inside a dataloader worker; a label map of another size
than its image, or with values beyond the class count, trains and evaluates
without complaint, and ``IoUMetric`` silently drops the out-of-range
values from its counts, so the mIoU is wrong. Here:

* :class:`ADE20KStyleDataset` / :class:`ADE20KDataset` check at start-up
  that every image has its label map and name the missing ones, and give
  each sample the class count;
* :class:`LoadSegAnnotations` (mmseg's ``LoadAnnotations``) checks each
  label map as it loads it: single channel, the size of its image, and
  values that are classes or mmseg's ignore index 255 once
  ``reduce_zero_label`` is applied. A bad map is a ``ValueError`` naming the
  file, the values or sizes found and those expected.
"""
import os.path as osp
from typing import List

import numpy as np
from mmseg.datasets import ADE20KDataset as _MMSegADE20KDataset
from mmseg.datasets import BaseSegDataset
from mmseg.datasets.transforms import LoadAnnotations

from hornet_mm.registry import DATASETS, TRANSFORMS

__all__ = [
    'ADE20KDataset', 'ADE20KStyleDataset', 'LabelMapError',
    'LoadSegAnnotations'
]

IGNORE_INDEX = 255
"""The label mmseg's losses and ``IoUMetric`` ignore."""


class LabelMapError(ValueError):
    """A label map that does not fit its image or the dataset's classes."""


def _is_local(path: str) -> bool:
    return '://' not in path


class _CheckedSegMixin:
    """Start-up checks shared by the segmentation datasets below."""

    def load_data_list(self) -> List[dict]:
        data_list = super().load_data_list()
        missing = [
            info['seg_map_path'] for info in data_list
            if info.get('seg_map_path') and _is_local(info['seg_map_path'])
            and not osp.isfile(info['seg_map_path'])
        ]
        if missing:
            shown = ', '.join(missing[:5])
            more = f' and {len(missing) - 5} more' if len(missing) > 5 else ''
            raise FileNotFoundError(
                f'{len(missing)} of {len(data_list)} images have no label '
                f'map: {shown}{more} (expected next to their images under '
                f"{self.data_prefix.get('seg_map_path')!r})")
        num_classes = len(self._metainfo['classes'])
        for info in data_list:
            info['num_classes'] = num_classes
        return data_list


@DATASETS.register_module()
class ADE20KStyleDataset(_CheckedSegMixin, BaseSegDataset):
    """A dataset laid out like ADE20K with its own classes.

    ``images/<split>/*.jpg`` and ``annotations/<split>/*.png`` where label 0
    is "other" and ``k`` the k-th class (``reduce_zero_label=True``). The
    classes (and a palette for drawing) come from ``metainfo``.
    """

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = True,
                 **kwargs) -> None:
        metainfo = kwargs.get('metainfo') or {}
        if not metainfo.get('classes'):
            raise ValueError('ADE20KStyleDataset needs '
                             'metainfo=dict(classes=(...)) in the config')
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            **kwargs)


@DATASETS.register_module()
class ADE20KDataset(_CheckedSegMixin, _MMSegADE20KDataset):
    """mmseg's ``ADE20KDataset`` (150 classes) with the start-up checks."""


@TRANSFORMS.register_module()
class LoadSegAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` that checks the label map it loads.

    The size must equal the image's (``ori_shape``, set by the image
    loader, so the check also holds in test pipelines that load labels
    after resizing the image); the values, after ``reduce_zero_label`` and
    any ``label_map``, must lie in ``[0, num_classes)`` or equal 255 when the
    dataset provides ``num_classes`` (hornet_mm's datasets do).

    A sample without a ``seg_map_path`` entry is an image to infer on, not
    a dataset sample (mmseg's ``MMSegInferencer`` reuses the test pipeline
    and drops only transforms named ``LoadAnnotations``): it passes
    unchanged. A dataset sample always has the entry.
    """

    def transform(self, results: dict) -> dict:
        if 'seg_map_path' not in results:
            return results
        return super().transform(results)

    def _load_seg_map(self, results: dict) -> None:
        super()._load_seg_map(results)
        path = results['seg_map_path']
        seg = results['gt_seg_map']
        if seg.ndim != 2:
            raise LabelMapError(
                f'{path}: a label map must have one channel, got an array '
                f'of shape {seg.shape}')
        image_shape = results.get('ori_shape')
        if image_shape is not None and seg.shape != tuple(image_shape[:2]):
            raise LabelMapError(
                f'{path}: label map is {seg.shape[0]}x{seg.shape[1]} (HxW) '
                f'but its image {results.get("img_path")} is '
                f'{image_shape[0]}x{image_shape[1]}')
        num_classes = results.get('num_classes')
        if num_classes is None:
            return
        values = np.unique(seg)
        bad = values[(values >= num_classes) & (values != IGNORE_INDEX)]
        if bad.size:
            reduced = bool(results.get('reduce_zero_label'))
            if reduced:  # report the values as stored in the file
                bad = bad + 1
                valid = f'0 (other) and 1..{num_classes}'
            else:
                valid = f'0..{num_classes - 1} and {IGNORE_INDEX} (ignore)'
            raise LabelMapError(
                f'{path}: label values {bad.tolist()} are beyond the '
                f'{num_classes} classes of the dataset (valid: {valid}); '
                'fix the map or the classes in the config')
