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

(The skip is :class:`hornet_mm.datasets.loading.SkipUndecodableImages`.)
Registered lazily: importing :mod:`hornet_mm.datasets` does not import
mmpretrain.
"""
import os.path as osp
from typing import List

from mmpretrain.datasets import ImageNet as _MMPretrainImageNet

from hornet_mm.registry import DATASETS
from .loading import SkipUndecodableImages

__all__ = ['ImageNet']


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
