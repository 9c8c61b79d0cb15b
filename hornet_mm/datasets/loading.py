"""Image loading that names the bad file, for every dataset of hornet_mm.

Needs only mmcv and mmengine (no mmpretrain, mmdet or mmseg):

* :class:`LoadImageFromFile` (``hornet_mm.LoadImageFromFile``) is mmcv's
  loader with errors that name the file instead of a decoder traceback:
  ``FileNotFoundError`` for a missing file, :class:`ImageDecodeError` for an
  empty or corrupt one;
* :class:`SkipUndecodableImages` is the dataset mixin of ``hornet_mm``'s
  ImageNet and COCO classes: during training an image that cannot be
  decoded is skipped with a logged warning naming it and another sample is
  drawn (the mmengine convention for unusable samples); during testing, where
  skipping would change the metric, the error stands.
"""
import logging
import os.path as osp
from typing import Optional

from mmcv.transforms import LoadImageFromFile as _MMCVLoadImageFromFile
from mmengine.logging import print_log

from hornet_mm.registry import TRANSFORMS

__all__ = ['ImageDecodeError', 'LoadImageFromFile', 'SkipUndecodableImages']


class ImageDecodeError(ValueError):
    """An image file exists but cannot be decoded."""


class SkipUndecodableImages:
    """Dataset mixin: in training, a sample whose image cannot be decoded
    (:class:`ImageDecodeError`) is skipped with a logged warning (the base
    dataset then draws another); in testing the error stands."""

    def prepare_data(self, idx: int):
        try:
            return super().prepare_data(idx)
        except ImageDecodeError as err:
            if self.test_mode:
                raise
            print_log(
                f'Skipping sample {idx}: {err}',
                logger='current',
                level=logging.WARNING)
            return None


@TRANSFORMS.register_module()
class LoadImageFromFile(_MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` raising :class:`ImageDecodeError` or
    ``FileNotFoundError`` naming the file.

    Takes mmcv's arguments (``to_float32``, ``color_type``,
    ``imdecode_backend``, ``backend_args``, ...).
    """

    def transform(self, results: dict) -> Optional[dict]:
        if 'img_path' not in results and results.get('img') is not None:
            return results  # already loaded (e.g. by an inferencer)
        path = results['img_path']
        if isinstance(path, str) and not osp.isfile(path):
            raise FileNotFoundError(f'Image file not found: {path}')
        try:
            out = super().transform(results)
        except Exception as err:  # decoder errors come in many types
            raise ImageDecodeError(
                f'Cannot decode image {path}: empty or corrupt file '
                f'({type(err).__name__}: {err})') from err
        if out is None or out.get('img') is None:
            raise ImageDecodeError(
                f'Cannot decode image {path}: empty or corrupt file')
        return out
