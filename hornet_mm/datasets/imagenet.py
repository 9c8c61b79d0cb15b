"""ImageNet-style classification data with checked input.

``hornet_mm.ImageNet`` reads the same layout as mmpretrain's ``ImageNet``
(``{split}/`` image folders and ``meta/{split}.txt`` lines ``path label``) and
adds what a long run needs to fail early and clearly:

* at start-up, an annotation line that does not parse, names a missing file
  or carries a label outside the class list is an error naming the
  annotation file, the line and the value;
* during training, an image that cannot be decoded (empty or corrupt file) is
  skipped with a logged warning naming it and another sample is drawn, the
  mmengine convention for unusable samples; during testing, where skipping
  would change the metric, it is an error naming the file.

``hornet_mm.LoadImageFromFile`` is mmcv's loader with errors that name the
file instead of a decoder traceback.
"""
import logging
import os.path as osp
from typing import List, Optional

from mmcv.transforms import LoadImageFromFile as _MMCVLoadImageFromFile
from mmengine.logging import print_log
from mmpretrain.datasets import ImageNet as _MMPretrainImageNet

from hornet_mm.registry import DATASETS, TRANSFORMS

__all__ = [
    'ImageDecodeError', 'LoadImageFromFile', 'ImageNet',
    'SkipUndecodableImages'
]


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


@DATASETS.register_module()
class ImageNet(SkipUndecodableImages, _MMPretrainImageNet):
    """mmpretrain's ``ImageNet`` with checked annotations and images.

    Takes mmpretrain's arguments (``data_root``, ``split``, ``data_prefix``,
    ``ann_file``, ``metainfo=dict(classes=...)``, ``pipeline``, ...).
    """

    def load_data_list(self) -> List[dict]:
        if not self.ann_file:
            return super().load_data_list()
        num_classes = len(self.CLASSES) if self.CLASSES else None
        data_list = []
        with open(self.ann_file, encoding='utf-8') as f:
            lines = f.read().splitlines()
        if not any(line.strip() for line in lines):
            raise ValueError(f'Annotation file is empty: {self.ann_file}')
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f'{self.ann_file}:{lineno}'
            parts = line.strip().rsplit(' ', 1)
            if self.with_label:
                if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
                    raise ValueError(f'{where}: expected "<path> <label>", '
                                     f'got {line!r}')
                filename, label = parts[0], int(parts[1])
                if label < 0 or (num_classes is not None
                                 and label >= num_classes):
                    raise ValueError(
                        f'{where}: label {label} is outside the '
                        f'{num_classes} classes (0..{num_classes - 1})')
            else:
                filename, label = line.strip(), None
            img_path = osp.join(self.img_prefix, filename)
            if not osp.isfile(img_path):
                raise FileNotFoundError(
                    f'{where}: image file not found: {img_path}')
            info = dict(img_path=img_path)
            if label is not None:
                info['gt_label'] = label
            data_list.append(info)
        return data_list
