"""A small, seeded, learnable ADE20K-format semantic-segmentation set.

``make_ade_style`` writes the layout of ADEChallengeData2016::

    images/training/ADE_train_00000001.jpg ...
    images/validation/ADE_val_00000001.jpg ...
    annotations/training/ADE_train_00000001.png ...   (single-channel PNG)
    annotations/validation/ADE_val_00000001.png ...

As in ADE20K, a label map stores 0 for "other" (pixels of no class) and
``k`` for the k-th class of :data:`ADE_STYLE_CLASSES`; configs read it with
``reduce_zero_label=True``, which turns 0 into the ignore index 255 and
``k`` into ``k - 1``.

Every image is an outdoor-like scene: a smooth sky over a rough, speckled
ground, separated by a band of mountains that is "other", plus 1 to 5
shapes (circle, rectangle, triangle, cross; random colours, sizes, angles,
often overlapping, painted by the painters of the COCO-style set) and a few
"other" clutter strokes. Sky and ground differ in texture and position, the
shapes only in outline, so a model has to learn both.
"""
import os
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np

from .painting import (COCO_SHAPE_CLASSES, distinct_colour, shaded_fill,
                       skyline, smooth_noise, write_image)

__all__ = ['ADE_STYLE_CLASSES', 'ADE_STYLE_PALETTE', 'make_ade_style']

ADE_STYLE_CLASSES: Tuple[str,
                         ...] = ('sky', 'ground') + tuple(COCO_SHAPE_CLASSES)
"""Class names; label value ``k`` (1-based) in the PNGs is class ``k - 1``."""
ADE_STYLE_PALETTE: Tuple[Tuple[int, int, int],
                         ...] = ((70, 130, 180), (152, 251, 152), (220, 20,
                                                                   60),
                                 (255, 215, 0), (0, 0, 230), (255, 0, 255))
"""RGB colour of each class in drawn predictions."""
IMAGE_SIDE_RANGE = (160, 256)
"""Smallest and largest image side in px (height and width drawn apart)."""
SIZE_RANGE = (20, 90)
"""Smallest and largest shape extent in px (log-uniform in between)."""


def _draw(rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one scene; return the BGR image and the label map (0 = other)."""
    low, high = IMAGE_SIDE_RANGE
    height, width = (int(side) for side in rng.integers(low, high + 1, 2))
    rows = np.arange(height, dtype=np.float32)[:, None]
    label = np.zeros((height, width), np.uint8)
    canvas = np.empty((height, width, 3), np.float32)

    horizon = skyline(rng, width, height * rng.uniform(0.45, 0.65),
                      height * 0.04)
    ridge = horizon - skyline(rng, width, height * rng.uniform(0.08, 0.2),
                              height * 0.05).clip(min=height * 0.02)
    sky = rows < ridge[None, :]
    ground = rows >= horizon[None, :]
    label[sky] = 1
    label[ground] = 2

    # sky: a smooth vertical gradient between two light colours
    top, bottom = rng.uniform(120, 255, (2, 3)).astype(np.float32)
    mix = (rows / height)[..., None]
    canvas[:] = top * (1 - mix) + bottom * mix
    # mountains ("other"): dark, mid-frequency texture
    mountain = rng.uniform(40, 140, 3).astype(np.float32)
    texture = smooth_noise(rng, height, width, 12)[..., None] * 18
    band = ~sky & ~ground
    canvas[band] = (mountain + texture)[band]
    # ground: an earthy colour with blotches and strong speckle
    soil = rng.uniform(50, 200, 3).astype(np.float32)
    blotches = smooth_noise(rng, height, width, 6)[..., None] * 25
    speckle = rng.normal(0, 22, (height, width, 1)).astype(np.float32)
    canvas[ground] = (soil + blotches + speckle)[ground]

    shapes = list(COCO_SHAPE_CLASSES.values())
    colours: List[np.ndarray] = []
    for _ in range(int(rng.integers(1, 6))):
        category = int(rng.integers(len(shapes)))
        size = float(np.exp(rng.uniform(*np.log(SIZE_RANGE))))
        mask = np.zeros((height, width), np.uint8)
        shapes[category](mask, rng, rng.uniform(0.15, 0.85) * width,
                         rng.uniform(0.15, 0.85) * height, size)
        mask = mask.astype(bool)
        if mask.sum() < 30:
            continue
        colour = distinct_colour(rng, canvas[mask].mean(0), colours)
        colours.append(colour)
        shaded_fill(canvas, mask, colour, rng)
        label[mask] = 3 + category

    # clutter strokes of no class ("other")
    for _ in range(int(rng.integers(0, 4))):
        stroke = np.zeros((height, width), np.uint8)
        points = rng.uniform(0, 1, (2, 2)) * (width, height)
        cv2.line(stroke, tuple(int(v) for v in points[0]),
                 tuple(int(v) for v in points[1]), 1, int(rng.integers(2, 5)))
        stroke = stroke.astype(bool)
        canvas[stroke] = rng.uniform(0, 255, 3).astype(np.float32)
        label[stroke] = 0

    noise = rng.normal(0, rng.uniform(2, 8), canvas.shape)
    img = np.clip(canvas + noise, 0, 255).astype(np.uint8)
    return img, label


def make_ade_style(out_dir: str,
                   num_train: int = 240,
                   num_val: int = 60,
                   seed: int = 0) -> Dict[str, Dict[str, int]]:
    """Write a seeded ADE20K-format set (see the module docstring).

    Args:
        out_dir: Dataset root (``data_root`` of the config).
        num_train: Training images.
        num_val: Validation images.
        seed: Seed; the same seed writes identical files.

    Returns:
        Per split (``'training'``, ``'validation'``): the number of
        ``images`` and, per label value (0 = other, k = class k - 1), the
        number of pixels (``pixels``: a list of ``len(classes) + 1`` ints).
    """
    counts = {}
    for split, prefix, num in (('training', 'train', num_train),
                               ('validation', 'val', num_val)):
        img_dir = osp.join(out_dir, 'images', split)
        ann_dir = osp.join(out_dir, 'annotations', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        pixels = np.zeros(len(ADE_STYLE_CLASSES) + 1, np.int64)
        for i in range(num):
            # one generator per image: any subset regenerates identically
            rng = np.random.default_rng([seed, i, split == 'validation'])
            img, label = _draw(rng)
            stem = f'ADE_{prefix}_{i + 1:08d}'
            img_path = osp.join(img_dir, stem + '.jpg')
            ann_path = osp.join(ann_dir, stem + '.png')
            write_image(img_path, img, (cv2.IMWRITE_JPEG_QUALITY, 92))
            write_image(ann_path, label)
            pixels += np.bincount(label.ravel(), minlength=len(pixels))
        counts[split] = dict(images=num, pixels=pixels.tolist())
    return counts
