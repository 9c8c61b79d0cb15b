"""COCO-format detection data with checked input (mmdet's ``CocoDataset``).

``type='hornet_mm.CocoDataset'`` takes mmdet's arguments and reads the same
files; what it adds, so that a long run fails early and clearly:

* a missing, empty or non-JSON annotation file, or one without images, is an
  error naming the file (mmdet: a ``JSONDecodeError`` without the file name,
  or ``need at least one array to concatenate``);
* a class of the config that the file does not list, or classes listed in
  another order than the config's, is an error: mmdet numbers the labels in
  the file's order, so the names would not match the labels;
* an image the annotation file names that does not exist is an error at
  start-up naming the file, the image id and the path (mmdet: a
  ``FileNotFoundError`` when the sample is first drawn);
* annotations mmdet drops without a word are counted and logged, one warning
  per file, with a few annotation ids: boxes with no overlap with their
  image, boxes less than a pixel wide or high or of zero area, category ids
  that are not among the config's classes (named, or said to be absent from
  the file's ``categories``). mmdet's behaviour (dropping them) is kept;
* if no image is left for training after that, it is an error;
* with ``hornet_mm.LoadImageFromFile`` in the pipeline, an image that cannot
  be decoded is skipped with a logged warning during training and is an
  error naming the file during testing (mmcv's loader: an
  ``AssertionError: failed to load image: <path>`` in both).
"""
import json
import logging
import os.path as osp
from collections import defaultdict
from typing import Dict, List

from mmdet.datasets import CocoDataset as _MMDetCocoDataset
from mmengine.logging import print_log

from hornet_mm.registry import DATASETS
from .loading import SkipUndecodableImages

__all__ = ['CocoDataset']

_EXAMPLES = 5


@DATASETS.register_module()
class CocoDataset(SkipUndecodableImages, _MMDetCocoDataset):
    """mmdet's ``CocoDataset`` with checked annotations and images."""

    def load_data_list(self) -> List[dict]:
        ann_file = self.ann_file
        if self.backend_args is None and not osp.isfile(ann_file):
            raise FileNotFoundError(f'Annotation file not found: {ann_file}')
        self._skipped: Dict[str, List[int]] = defaultdict(list)
        self._classes_checked = False
        try:
            data_list = super().load_data_list()
        except json.JSONDecodeError as err:
            raise ValueError(f'{ann_file} is not a COCO annotation file '
                             f'(empty or not JSON: {err})') from err
        if not data_list:
            raise ValueError(f'{ann_file} lists no images')
        self._report_skipped()
        if self.backend_args is None:
            for info in data_list:
                if not osp.isfile(info['img_path']):
                    raise FileNotFoundError(
                        f'{ann_file}: image {info["img_id"]} not found: '
                        f'{info["img_path"]}')
        return data_list

    def _check_classes(self) -> None:
        classes = list(self.metainfo['classes'])
        in_file = [cat['name'] for cat in self.coco.dataset['categories']]
        missing = [name for name in classes if name not in in_file]
        if missing:
            raise ValueError(
                f'{self.ann_file}: the config\'s classes {missing} are not '
                f'among the file\'s categories {in_file}')
        order = [name for name in in_file if name in classes]
        if order != classes:
            raise ValueError(
                f'{self.ann_file} lists the classes in the order {order}, '
                f'the config in the order {classes}: mmdet numbers the '
                'labels in the file\'s order, so set the config\'s classes '
                'in that order')

    def parse_data_info(self, raw_data_info: dict):
        if not self._classes_checked:
            self._check_classes()
            self._classes_checked = True
        img = raw_data_info['raw_img_info']
        cats = self.coco.cats
        for ann in raw_data_info['raw_ann_info']:
            if ann.get('ignore', False):
                continue
            # the conditions under which mmdet's parse_data_info drops one
            x1, y1, w, h = ann['bbox']
            inter_w = max(0, min(x1 + w, img['width']) - max(x1, 0))
            inter_h = max(0, min(y1 + h, img['height']) - max(y1, 0))
            if inter_w * inter_h == 0:
                reason = 'a box with no overlap with its image'
            elif ann['area'] <= 0 or w < 1 or h < 1:
                reason = 'a box of less than a pixel or zero area'
            elif ann['category_id'] not in self.cat_ids:
                cat = cats.get(ann['category_id'])
                reason = (f'category {cat["name"]!r} (id {cat["id"]}), not '
                          'among the config\'s classes' if cat else
                          f'category id {ann["category_id"]}, not among '
                          'the file\'s categories')
            else:
                continue
            self._skipped[reason].append(ann['id'])
        return super().parse_data_info(raw_data_info)

    def _report_skipped(self) -> None:
        if not self._skipped:
            return
        total = sum(len(ids) for ids in self._skipped.values())
        parts = []
        for reason, ids in self._skipped.items():
            shown = ', '.join(map(str, ids[:_EXAMPLES]))
            more = ', ...' if len(ids) > _EXAMPLES else ''
            parts.append(f'{len(ids)} with {reason} (annotation ids '
                         f'{shown}{more})')
        print_log(
            f'{self.ann_file}: {total} annotations are left out, as mmdet '
            'does: ' + '; '.join(parts),
            logger='current',
            level=logging.WARNING)
        self._skipped.clear()

    def filter_data(self) -> List[dict]:
        kept = super().filter_data()
        if self.data_list and not kept:
            raise ValueError(
                f'{self.ann_file}: none of its {len(self.data_list)} images '
                'has an annotation left for training (filter_cfg '
                f'{self.filter_cfg}, classes {list(self.metainfo["classes"])})'
            )
        return kept
