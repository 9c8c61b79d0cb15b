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
* image ids that are not unique are an error naming the ids and their files
  (pycocotools keeps the last image of an id and gives it every annotation
  of that id, so the others' annotations are lost);
* an image whose size differs from the file's ``width`` and ``height`` is an
  error at start-up naming the file, the image id, the path and both sizes
  (mmdet trains on its boxes, clipped or off the image, or fails in a worker
  with ``all input arrays must have the same shape``). Only the image's
  header is read: 30 to 40 us an image from a warm cache (250 images in
  10 ms; COCO's 118k training images in about 5 s). An EXIF orientation tag
  counts as the pipeline's loader applies it (see :mod:`.loading`: by
  default the image is turned, as mmcv, mmdet and most viewers turn it, and
  the file's sizes must be those of the turned image; with ``color_type=
  'color_ignore_orientation'`` the stored pixels are used); a tag that
  turns an image without changing its size (a mirror, 180 degrees, or a
  square image) is reported in one warning per file with the image ids. With
  ``hornet_mm.LoadImageFromFile`` the decoded size is checked too, when the
  sample is drawn, in training and testing alike (files on remote storage,
  which the start-up check does not read, or replaced since);
* a malformed RLE ``segmentation`` (crowd or not: ``size`` other than the
  image's ``[height, width]``, ``counts`` not summing to height x width,
  values of the wrong type) is an error at start-up naming the file, the
  image id and the annotation id: pycocotools would decode it to a mask of
  another size or from memory it never wrote, or fail mid-epoch without
  naming it. Dropping it would not help: ``CocoMetric`` reads the file
  itself;
* polygon parts of fewer than 3 points (under 6 coordinates, or an odd
  number) are left out as mmdet's ``LoadAnnotations`` leaves them out (an
  annotation with no part left is ignored, its box too) and reported in one
  warning per file with the annotation and image ids. In testing, an
  annotation whose polygons pycocotools cannot read (a first part of 1 or 2
  points: ``input type is not supported`` or a ``TypeError`` in
  ``CocoMetric`` at the end of a whole inference) is an error at start-up
  naming the file, the image id and the annotation id; short later parts,
  which pycocotools reads, are only reported;
* with ``hornet_mm.LoadImageFromFile`` in the pipeline, an image that cannot
  be decoded is skipped with a logged warning during training and is an
  error naming the file during testing (mmcv's loader: an
  ``AssertionError: failed to load image: <path>`` in both).
"""
import json
import logging
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Tuple

from mmcv.transforms import LoadImageFromFile as _MMCVLoadImageFromFile
from mmdet.datasets import CocoDataset as _MMDetCocoDataset
from mmengine.logging import print_log
from pycocotools import mask as mask_utils

from hornet_mm.registry import DATASETS
from .loading import (ImageSizeError, SkipUndecodableImages,
                      applies_exif_orientation, decoded_size,
                      read_image_header, size_mismatch_message)

__all__ = ['CocoDataset']

_EXAMPLES = 5


def _is_count(value) -> bool:
    """A non-negative whole number (JSON writers may give ``10.0``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value >= 0 and float(value).is_integer()


def _compressed_rle_total(counts: str) -> Optional[int]:
    """Sum of the run lengths of COCO's compressed RLE string.

    The format of pycocotools' ``rleToString``: each run length, minus the
    one two runs back from the third on, in 5-bit groups (least significant
    first) offset from ``'0'``, bit 5 of a character saying another group
    follows and bit 4 of the last group its sign. A string cut inside a
    number counts up to the last whole one; ``None`` for a character out of
    range or a negative run.
    """
    runs: List[int] = []
    pos, end = 0, len(counts)
    while pos < end:
        value = shift = 0
        while pos < end:
            code = ord(counts[pos]) - 48
            if not 0 <= code < 64:
                return None
            pos += 1
            value |= (code & 0x1f) << shift
            shift += 5
            if not code & 0x20:
                if code & 0x10:
                    value |= -1 << shift
                break
        else:
            break  # cut inside a number
        if len(runs) > 2:
            value += runs[-2]
        if value < 0:
            return None
        runs.append(value)
    return sum(runs)


def _rle_problem(segm: dict, height: int, width: int) -> Optional[str]:
    """What is wrong with an RLE ``segmentation`` of a height x width image
    (``None``: nothing)."""
    size, counts = segm.get('size'), segm.get('counts')
    if not (isinstance(size, list) and len(size) == 2
            and all(_is_count(side) for side in size)):
        return f'its size {size} is not [height, width]'
    if [int(side) for side in size] != [height, width]:
        return (f'its size {size} (height, width) is not the image\'s '
                f'[{height}, {width}]')
    if isinstance(counts, list):
        if not all(_is_count(count) for count in counts):
            return 'its counts are not all non-negative integers'
        total = int(sum(counts))
    elif isinstance(counts, str):
        total = _compressed_rle_total(counts)
        if total is None:
            return 'its counts are not a compressed RLE string'
    else:
        return (f'its counts are a {type(counts).__name__}, not a list of run '
                'lengths or a compressed string')
    if total != height * width:
        return (f'its counts sum to {total}, not height x width = {height} x '
                f'{width}')
    return None


def _pycocotools_reads(polygons: list, height: int, width: int) -> bool:
    """Whether pycocotools turns these polygons into a mask, as COCOeval's
    ``annToRLE`` does for segm evaluation."""
    try:
        mask_utils.frPyObjects(polygons, height, width)
    except Exception:  # it raises Exception, TypeError, IndexError, ...
        return False
    return True


@DATASETS.register_module()
class CocoDataset(SkipUndecodableImages, _MMDetCocoDataset):
    """mmdet's ``CocoDataset`` with checked annotations and images."""

    def load_data_list(self) -> List[dict]:
        ann_file = self.ann_file
        if self.backend_args is None and not osp.isfile(ann_file):
            raise FileNotFoundError(f'Annotation file not found: {ann_file}')
        self._skipped: Dict[str, List[int]] = defaultdict(list)
        self._short_polygons: Dict[bool, List[Tuple[int, int]]] = {
            True: [],
            False: []
        }
        self._file_checked = False
        try:
            data_list = super().load_data_list()
        except json.JSONDecodeError as err:
            raise ValueError(f'{ann_file} is not a COCO annotation file '
                             f'(empty or not JSON: {err})') from err
        if not data_list:
            raise ValueError(f'{ann_file} lists no images')
        self._report_skipped()
        self._report_short_polygons()
        if self.backend_args is None:
            for info in data_list:
                if not osp.isfile(info['img_path']):
                    raise FileNotFoundError(
                        f'{ann_file}: image {info["img_id"]} not found: '
                        f'{info["img_path"]}')
            self._check_image_sizes(data_list)
        return data_list

    def prepare_data(self, idx: int):
        try:
            return super().prepare_data(idx)
        except ImageSizeError as err:
            raise ImageSizeError(f'{self.ann_file}: {err}') from err

    def _check_image_sizes(self, data_list: List[dict]) -> None:
        """Compare each image's size, from its header, as the pipeline's
        loader will decode it, with the file's width and height."""
        loader = next((t for t in self.pipeline.transforms
                       if isinstance(t, _MMCVLoadImageFromFile)), None)
        if loader is None:
            return  # another loader: what it decodes is its own business
        applied = applies_exif_orientation(loader.color_type,
                                           loader.imdecode_backend)
        same_size: List[Tuple[int, int]] = []
        for info in data_list:
            path = info['img_path']
            try:
                width, height, orientation, known = read_image_header(path)
            except (OSError, ValueError):
                continue  # not an image: the loader says so (or skips it)
            said = (info['width'], info['height'])
            decoded = decoded_size(width, height, orientation, applied)
            # formats other than JPEG: whether cv2 turns them varies, so
            # either size passes here and the loader's own check decides
            other = decoded_size(width, height, orientation, not applied)
            if said != decoded and (known or said != other):
                raise ImageSizeError(
                    f'{self.ann_file}: ' + size_mismatch_message(
                        info['img_id'], path, decoded, said, orientation,
                        applied, loader.color_type))
            if applied and known and orientation != 1 and \
                    decoded == (width, height):
                same_size.append((info['img_id'], orientation))
        if same_size:
            shown = ', '.join(f'image {img_id}: EXIF orientation {tag}'
                              for img_id, tag in same_size[:_EXAMPLES])
            more = ', ...' if len(same_size) > _EXAMPLES else ''
            plural = 's' if len(same_size) > 1 else ''
            print_log(
                f'{self.ann_file}: {len(same_size)} image{plural} with an '
                'EXIF orientation tag that turns it without changing its '
                f'size ({shown}{more}); the loader applies it, so their '
                'annotations must be those of the turned image (as a viewer '
                "shows it); for the stored pixels set color_type="
                "'color_ignore_orientation' in the loader",
                logger='current',
                level=logging.WARNING)

    def _check_file(self) -> None:
        """Checks of the whole file, while pycocotools' index is at hand."""
        self._check_classes()
        self._check_image_ids()
        self._check_segmentations()

    def _check_image_ids(self) -> None:
        files: Dict[int, List[str]] = defaultdict(list)
        for img in self.coco.dataset['images']:
            files[img['id']].append(str(img.get('file_name')))
        repeated = [(i, names) for i, names in files.items() if len(names) > 1]
        if not repeated:
            return
        shown = '; '.join(
            f'image {img_id} ({len(names)} times: {", ".join(names)})'
            for img_id, names in repeated[:_EXAMPLES])
        more = f'; {len(repeated) - _EXAMPLES} more' \
            if len(repeated) > _EXAMPLES else ''
        raise ValueError(
            f'{self.ann_file}: image ids are not unique: {shown}{more} '
            '(pycocotools keeps the last image of an id and gives it every '
            'annotation of that id)')

    def _check_segmentations(self) -> None:
        """Malformed RLE: an error; polygon parts of fewer than 3 points:
        counted for a warning, or an error in testing where pycocotools
        cannot read them."""
        imgs = self.coco.imgs
        for ann in self.coco.dataset.get('annotations', []):
            segm = ann.get('segmentation')
            img = imgs.get(ann.get('image_id'))
            if not segm or img is None:
                continue  # no mask, or never read (no such image)
            where = f'{self.ann_file}: image {img["id"]}, annotation ' \
                f'{ann.get("id")}'
            height, width = img['height'], img['width']
            if isinstance(segm, dict):
                problem = _rle_problem(segm, height, width)
                if problem:
                    raise ValueError(
                        f'{where}: malformed RLE segmentation: {problem} '
                        '(pycocotools would decode it to a mask of another '
                        'size or from memory it never wrote, or fail '
                        'without naming it)')
                continue
            if not isinstance(segm, list) or not all(
                    isinstance(part, list) for part in segm):
                raise ValueError(
                    f'{where}: malformed segmentation: neither a list of '
                    'polygons (lists of x, y coordinates) nor an RLE dict '
                    f'with size and counts (a {type(segm).__name__})')
            short = [len(part) < 6 or len(part) % 2 == 1 for part in segm]
            if not any(short):
                continue
            if self.test_mode and not _pycocotools_reads(segm, height, width):
                raise ValueError(
                    f'{where}: its first polygon part has fewer than 3 points '
                    f'({len(segm[0])} coordinates); segm evaluation '
                    '(pycocotools) would fail on it after the whole '
                    'inference: remove that part, or the annotation')
            if self.test_mode or not ann.get('ignore', False):
                self._short_polygons[all(short)].append(
                    (ann.get('id'), img['id']))

    def _report_short_polygons(self) -> None:
        none_left, some_left = (
            self._short_polygons[key] for key in (True, False))
        if not none_left and not some_left:
            return
        parts = []
        for anns, what in ((none_left, 'with no part left, ignored with its '
                            'box'), (some_left, 'keeping its other parts')):
            if anns:
                shown = ', '.join(f'annotation {ann_id} of image {img_id}'
                                  for ann_id, img_id in anns[:_EXAMPLES])
                more = ', ...' if len(anns) > _EXAMPLES else ''
                parts.append(f'{len(anns)} {what} ({shown}{more})')
        print_log(
            f'{self.ann_file}: {len(none_left) + len(some_left)} annotations '
            'with polygon parts of fewer than 3 points or an odd number of '
            'coordinates, which mmdet leaves out: ' + '; '.join(parts),
            logger='current',
            level=logging.WARNING)
        self._short_polygons = {True: [], False: []}

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
        if not self._file_checked:
            self._check_file()
            self._file_checked = True
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
