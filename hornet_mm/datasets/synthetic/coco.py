"""A small, seeded, learnable COCO-format instance-segmentation set.

``make_coco_style`` writes the COCO 2017 layout: JPEG files in
``train2017/`` and ``val2017/`` and ``annotations/instances_{split}2017.json``
with images, categories and annotations (``bbox`` as ``[x, y, w, h]``,
``area``, ``iscrowd``, ``segmentation``). Every image shows 1 to 6 filled
shapes of :data:`COCO_SHAPE_CLASSES` with random colours, sizes and
positions over a textured, noisy background; shapes often overlap, and each
mask and box describes the part left visible by the shapes drawn later.

As in real COCO, most ``segmentation`` fields are polygons, some are
compressed RLE (``counts`` a string) and a few ``iscrowd=1`` regions (a
cluster of small shapes of one category) use uncompressed RLE (``counts`` a
list). The polygons follow the pixel edges, so they decode (pycocotools
``annToMask``) to exactly the visible mask that ``area`` and ``bbox``
describe.

The shapes, the scene and the annotation encoding are those of
:mod:`.painting` (shared with the panoptic writer).
"""
import json
import os
import os.path as osp
from typing import Dict, List

import cv2
import numpy as np

from .painting import (COCO_SHAPE_CLASSES, coco_annotation, draw_shapes,
                       track_jobs, write_image)

__all__ = ['COCO_SHAPE_CLASSES', 'make_coco_style']


def make_coco_style(out_dir: str,
                    num_train: int = 200,
                    num_val: int = 50,
                    seed: int = 0,
                    progress: bool = True) -> Dict[str, Dict[str, int]]:
    """Write a seeded COCO-format instance-segmentation set of drawn shapes.

    Args:
        out_dir: Dataset root (``data_root`` of the config); gets
            ``train2017/``, ``val2017/`` and ``annotations/``.
        num_train: Training images.
        num_val: Validation images.
        seed: Seed; the same seed writes byte-identical files.
        progress: Show a progress bar.

    Returns:
        Per split (``'train'``, ``'val'``): the number of ``images`` and
        ``annotations``, and of annotations stored as ``polygon``, as
        compressed ``rle`` and as ``crowd`` regions (uncompressed RLE).
    """
    categories = [
        dict(id=i, name=name, supercategory='shape')
        for i, name in enumerate(COCO_SHAPE_CLASSES, 1)
    ]
    jobs = [(split, i)
            for split, count in (('train', num_train), ('val', num_val))
            for i in range(count)]
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    images: Dict[str, List[dict]] = {'train': [], 'val': []}
    annotations: Dict[str, List[dict]] = {'train': [], 'val': []}
    counts = {
        split: dict(images=0, annotations=0, polygon=0, rle=0, crowd=0)
        for split in images
    }

    iterator = track_jobs(jobs, progress)
    for split, i in iterator:
        # one generator per image: any subset regenerates identically
        rng = np.random.default_rng([seed, i, split == 'val'])
        img, instances = draw_shapes(rng)
        image_id = i + 1
        file_name = f'{image_id:012d}.jpg'
        folder = osp.join(out_dir, f'{split}2017')
        os.makedirs(folder, exist_ok=True)
        write_image(
            osp.join(folder, file_name), img, (cv2.IMWRITE_JPEG_QUALITY, 90))
        images[split].append(
            dict(
                id=image_id,
                file_name=file_name,
                height=img.shape[0],
                width=img.shape[1]))
        for inst in instances:
            ann, kind = coco_annotation(inst, rng)
            ann = dict(
                id=len(annotations[split]) + 1, image_id=image_id, **ann)
            annotations[split].append(ann)
            counts[split][kind] += 1

    for split in images:
        counts[split]['images'] = len(images[split])
        counts[split]['annotations'] = len(annotations[split])
        # the description names the file's old path: the annotation files,
        # and the digests of the fixtures made from them, stay unchanged
        coco = dict(
            info=dict(
                description='hornet_mm synthetic shapes '
                '(hornet_mm/datasets/synthetic_coco.py)',
                version='1.0',
                seed=seed),
            licenses=[],
            images=images[split],
            annotations=annotations[split],
            categories=categories)
        path = osp.join(out_dir, 'annotations', f'instances_{split}2017.json')
        with open(path, 'w') as f:
            json.dump(coco, f)
    return counts
