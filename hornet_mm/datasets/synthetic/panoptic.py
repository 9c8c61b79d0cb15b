"""A small, seeded, learnable COCO-panoptic-format set.

``make_coco_panoptic_style`` writes the layout mmdet's COCO panoptic configs
read::

    train2017/000000000001.jpg ...
    annotations/panoptic_train2017.json
    annotations/panoptic_train2017/000000000001.png ...
    annotations/instances_train2017.json

and the same for ``val2017``.

Every image shows the shapes of the COCO-style instance set
(:func:`.painting.draw_shapes`: 1 to 6 shapes of
:data:`COCO_PANOPTIC_THING_CLASSES`, often overlapping, sometimes an
``iscrowd`` cluster) over an outdoor-like background: a smooth, light,
bluish sky above a speckled, earthy ground, split by a random wavy horizon.
Sky and ground are the stuff categories :data:`COCO_PANOPTIC_STUFF_CLASSES`;
they differ in colour, texture and position, so a small model can learn them.

The panoptic PNGs store every pixel's segment id as the colour ``(id % 256,
id // 256 % 256, id // 256**2)`` (RGB); id 0 marks unlabelled (void) pixels:
the blended band of about 2 px along the horizon, and a stuff region that
shapes leave smaller than ``MIN_AREA`` (100) px. Each image has one segment per
visible shape and at most one per stuff category (its visible pixels, which
may be split by shapes). A crowd cluster is kept as an ``iscrowd=1`` thing
segment, as in COCO panoptic. ``area`` is the segment's pixel count and
``bbox`` (``[x, y, w, h]``) its pixel extent.

``instances_{split}2017.json`` holds the thing segments in COCO instance
format (same image and category ids; polygons, compressed RLE or, for crowd
regions, uncompressed RLE; as written by ``make_coco_style``), for the
instance-segmentation metric that mmdet's panoptic configs also run.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from .painting import (COCO_SHAPE_CLASSES, MIN_AREA, coco_annotation,
                       draw_shapes, skyline, smooth_noise, track_jobs,
                       write_image)

__all__ = [
    'COCO_PANOPTIC_THING_CLASSES', 'COCO_PANOPTIC_STUFF_CLASSES',
    'COCO_PANOPTIC_CLASSES', 'make_coco_panoptic_style'
]

COCO_PANOPTIC_THING_CLASSES: Tuple[str, ...] = tuple(COCO_SHAPE_CLASSES)
"""Thing categories (ids 1 to 4)."""
COCO_PANOPTIC_STUFF_CLASSES: Tuple[str, ...] = ('sky', 'ground')
"""Stuff categories (ids 5 and 6)."""
COCO_PANOPTIC_CLASSES: Tuple[str, ...] = (
    COCO_PANOPTIC_THING_CLASSES + COCO_PANOPTIC_STUFF_CLASSES)
"""All categories; category id ``k + 1`` (mmdet label ``k``) is the k-th."""

HORIZON_RANGE = (0.3, 0.7)
"""Range of the mean height of the horizon, as fractions of the image."""
BLEND = 1.0
"""Half width in px of the band where sky and ground blend (left void)."""


class _SkyAndGround:
    """Paints a sky-and-ground background and keeps its two regions.

    An instance is the ``paint_background`` of ``painting.draw_shapes``;
    after a call, ``sky`` and ``ground`` are the bool masks of the pixels
    that show only sky or only ground (the blended band is in neither).
    """

    def __init__(self) -> None:
        self.sky: Optional[np.ndarray] = None
        self.ground: Optional[np.ndarray] = None

    def __call__(self, rng: np.random.Generator, height: int,
                 width: int) -> np.ndarray:
        rows = np.arange(height, dtype=np.float32)[:, None]
        horizon = skyline(rng, width, height * rng.uniform(*HORIZON_RANGE),
                          height * 0.04)
        below = rows - horizon[None, :].astype(np.float32)
        self.sky = below <= -BLEND
        self.ground = below >= BLEND

        # colours are drawn as RGB and painted as BGR (the canvas of
        # draw_shapes)
        top = np.array([
            rng.uniform(70, 170),
            rng.uniform(120, 210),
            rng.uniform(200, 255)
        ], np.float32)
        haze = top + rng.uniform(15, 45)
        mix = np.clip(rows / np.maximum(horizon.mean(), 1), 0, 1)[..., None]
        sky = top * (1 - mix) + haze * mix
        sky = sky + smooth_noise(rng, height, width, 4)[..., None] * 4

        soil = np.array(
            [rng.uniform(80, 170),
             rng.uniform(70, 150),
             rng.uniform(20, 80)], np.float32)
        blotches = smooth_noise(rng, height, width, 6)[..., None] * 22
        speckle = rng.normal(0, 20, (height, width, 1)).astype(np.float32)
        ground = soil + blotches + speckle

        weight = np.clip((below + BLEND) / (2 * BLEND), 0, 1)[..., None]
        canvas = sky * (1 - weight) + ground * weight
        return np.ascontiguousarray(canvas[..., ::-1], dtype=np.float32)


def _segment_id(category_id: int, position: int) -> int:
    """Id of the ``position``-th (1-based) segment of an image.

    ``40 * category_id < 256`` keeps the ids of an image distinct; the PNG
    colour is ``(40 * category_id, 20 * position, 0)`` for positions < 13.
    """
    return 40 * category_id + 256 * 20 * position


def _bbox(mask: np.ndarray) -> List[int]:
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    return [x0, y0, int(xs.max()) + 1 - x0, int(ys.max()) + 1 - y0]


def _panoptic(instances: List[dict],
              scene: _SkyAndGround) -> Tuple[np.ndarray, List[dict]]:
    """The segment-id map of an image and its ``segments_info``."""
    ids = np.zeros(scene.sky.shape, np.int64)
    things = np.zeros(scene.sky.shape, bool)
    segments: List[dict] = []

    def add(mask: np.ndarray, category_id: int, crowd: bool) -> None:
        segment_id = _segment_id(category_id, len(segments) + 1)
        ids[mask] = segment_id
        segments.append(
            dict(
                id=segment_id,
                category_id=category_id,
                area=int(mask.sum()),
                bbox=_bbox(mask),
                iscrowd=int(crowd)))

    for inst in instances:
        add(inst['mask'], inst['category'] + 1, inst['crowd'])
        things |= inst['mask']
    first_stuff = len(COCO_PANOPTIC_THING_CLASSES) + 1
    for k, region in enumerate((scene.sky, scene.ground)):
        visible = region & ~things
        if visible.sum() >= MIN_AREA:
            add(visible, first_stuff + k, False)
    return ids, segments


def _id_png(ids: np.ndarray) -> np.ndarray:
    """The BGR image (for cv2) whose RGB colours encode ``ids``."""
    red, green, blue = ids % 256, ids // 256 % 256, ids // (256 * 256)
    return np.stack([blue, green, red], axis=-1).astype(np.uint8)


def make_coco_panoptic_style(
        out_dir: str,
        num_train: int = 200,
        num_val: int = 50,
        seed: int = 0,
        progress: bool = True) -> Dict[str, Dict[str, int]]:
    """Write a seeded COCO-panoptic-format set (see the module docstring).

    Args:
        out_dir: Dataset root (``data_root`` of the config); gets
            ``train2017/``, ``val2017/`` and ``annotations/``.
        num_train: Training images.
        num_val: Validation images.
        seed: Seed; the same seed writes byte-identical files.
        progress: Show a progress bar.

    Returns:
        Per split (``'train'``, ``'val'``): the number of ``images``, of
        ``things`` (thing segments, crowd regions included), of ``crowd``
        (``iscrowd=1`` thing segments) and of ``stuff`` segments.
    """
    ann_dir = osp.join(out_dir, 'annotations')
    splits = ('train', 'val')
    for split in splits:
        os.makedirs(osp.join(out_dir, f'{split}2017'), exist_ok=True)
        os.makedirs(osp.join(ann_dir, f'panoptic_{split}2017'), exist_ok=True)
    thing_categories = [
        dict(id=i, name=name, supercategory='shape')
        for i, name in enumerate(COCO_PANOPTIC_THING_CLASSES, 1)
    ]
    panoptic_categories = [
        dict(
            id=i,
            name=name,
            supercategory='shape'
            if name in COCO_PANOPTIC_THING_CLASSES else 'scene',
            isthing=int(name in COCO_PANOPTIC_THING_CLASSES))
        for i, name in enumerate(COCO_PANOPTIC_CLASSES, 1)
    ]
    images: Dict[str, List[dict]] = {split: [] for split in splits}
    panoptic: Dict[str, List[dict]] = {split: [] for split in splits}
    instances: Dict[str, List[dict]] = {split: [] for split in splits}
    counts = {
        split: dict(images=0, things=0, crowd=0, stuff=0)
        for split in splits
    }

    jobs = [(split, i)
            for split, count in (('train', num_train), ('val', num_val))
            for i in range(count)]
    iterator = track_jobs(jobs, progress)
    for split, i in iterator:
        # one generator per image: any subset regenerates identically
        rng = np.random.default_rng([seed, i, split == 'val'])
        scene = _SkyAndGround()
        img, shapes = draw_shapes(rng, scene)
        ids, segments = _panoptic(shapes, scene)
        image_id = i + 1
        stem = f'{image_id:012d}'
        write_image(
            osp.join(out_dir, f'{split}2017', stem + '.jpg'), img,
            (cv2.IMWRITE_JPEG_QUALITY, 90))
        write_image(
            osp.join(ann_dir, f'panoptic_{split}2017', stem + '.png'),
            _id_png(ids))
        images[split].append(
            dict(
                id=image_id,
                file_name=stem + '.jpg',
                height=img.shape[0],
                width=img.shape[1]))
        panoptic[split].append(
            dict(
                image_id=image_id,
                file_name=stem + '.png',
                segments_info=segments))
        for inst in shapes:
            ann, _ = coco_annotation(inst, rng)
            instances[split].append(
                dict(id=len(instances[split]) + 1, image_id=image_id, **ann))
        for segment in segments:
            if segment['category_id'] > len(COCO_PANOPTIC_THING_CLASSES):
                counts[split]['stuff'] += 1
            else:
                counts[split]['things'] += 1
                counts[split]['crowd'] += segment['iscrowd']

    # the description names the file's old path: the files stay unchanged
    info = dict(
        description='hornet_mm synthetic shapes, sky and ground '
        '(hornet_mm/datasets/synthetic_panoptic.py)',
        version='1.0',
        seed=seed)
    for split in splits:
        counts[split]['images'] = len(images[split])
        files = {
            f'panoptic_{split}2017.json':
            dict(
                info=info,
                licenses=[],
                images=images[split],
                annotations=panoptic[split],
                categories=panoptic_categories),
            f'instances_{split}2017.json':
            dict(
                info=info,
                licenses=[],
                images=images[split],
                annotations=instances[split],
                categories=thing_categories),
        }
        for name, content in files.items():
            with open(osp.join(ann_dir, name), 'w') as f:
                json.dump(content, f)
    return counts
