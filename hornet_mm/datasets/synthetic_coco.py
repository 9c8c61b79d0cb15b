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
"""
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_util

__all__ = ['COCO_SHAPE_CLASSES', 'make_coco_style']

# paints a filled shape of extent ``size`` px centred on (cx, cy) into a mask
Shape = Callable[[np.ndarray, np.random.Generator, float, float, float], None]
# paints the float background image of the given height and width
Background = Callable[[np.random.Generator, int, int], np.ndarray]

SIZE_RANGE = (24, 110)
"""Smallest and largest object extent in px (log-uniform in between)."""
IMAGE_SIDE_RANGE = (160, 320)
"""Smallest and largest image side in px (height and width drawn apart)."""
MIN_AREA = 100
"""Least visible area in px of a kept object or crowd region."""
MIN_VISIBLE = 0.3
"""Least fraction of an object that later objects may leave visible."""
RLE_FRACTION = 0.15
"""Chance that a (non-crowd) object is stored as compressed RLE."""
CROWD_CHANCE = 0.1
"""Chance that an image holds one ``iscrowd=1`` cluster."""
OVERLAP_CHANCE = 0.4
"""Chance that an object is placed across an earlier one."""


def _fill(mask: np.ndarray, points: np.ndarray) -> None:
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)


def _rotate(points: np.ndarray, angle: float, cx: float,
            cy: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    x, y = points[:, 0], points[:, 1]
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def _circle(mask, rng, cx, cy, size):
    cv2.circle(mask, (int(round(cx)), int(round(cy))), int(round(size / 2)), 1,
               -1)


def _rectangle(mask, rng, cx, cy, size):
    half_w, half_h = size / 2, size * rng.uniform(0.45, 0.95) / 2
    corners = np.array([[-half_w, -half_h], [half_w, -half_h],
                        [half_w, half_h], [-half_w, half_h]])
    _fill(mask, _rotate(corners, rng.uniform(0, np.pi), cx, cy))


def _triangle(mask, rng, cx, cy, size):
    angles = np.array([-np.pi / 2, np.pi / 6, 5 * np.pi / 6])
    angles = angles + rng.uniform(-0.25, 0.25, 3)
    radius = 0.55 * size * rng.uniform(0.9, 1.1, 3)
    corners = np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1)
    _fill(mask, _rotate(corners, rng.uniform(0, 2 * np.pi), cx, cy))


def _cross(mask, rng, cx, cy, size):
    arm, bar = size / 2, size * rng.uniform(0.12, 0.2)
    corners = np.array([[-bar, -arm], [bar, -arm], [bar, -bar], [arm, -bar],
                        [arm, bar], [bar, bar], [bar, arm], [-bar, arm],
                        [-bar, bar], [-arm, bar], [-arm, -bar], [-bar, -bar]])
    _fill(mask, _rotate(corners, rng.uniform(0, np.pi / 2), cx, cy))


COCO_SHAPE_CLASSES: Dict[str, Shape] = {
    'circle': _circle,
    'rectangle': _rectangle,
    'triangle': _triangle,
    'cross': _cross,
}
"""Category names (ids 1, 2, ... in this order) and their painters."""


def _background(rng: np.random.Generator, height: int,
                width: int) -> np.ndarray:
    """A float image: colour, gradient, blotchy low-frequency noise, lines."""
    img = np.empty((height, width, 3), np.float32)
    img[:] = rng.integers(30, 226, 3)
    ramp = np.linspace(-1, 1, width, dtype=np.float32)[None, :, None]
    img += ramp * rng.uniform(-30, 30, 3).astype(np.float32)
    grid = rng.normal(0, 1, (int(rng.integers(3, 8)), int(rng.integers(
        3, 8)), 3)).astype(np.float32)
    blotches = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    img += blotches * rng.uniform(10, 35)
    for _ in range(int(rng.integers(0, 7))):
        shade = img.mean((0, 1)) + rng.uniform(-50, 50, 3)
        start = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(img, start, end, tuple(float(c) for c in shade),
                 int(rng.integers(1, 3)))
    return img


def _colour(rng: np.random.Generator, under: np.ndarray,
            others: List[np.ndarray]) -> np.ndarray:
    """A colour far from the background under the object and earlier ones."""
    for _ in range(30):
        colour = rng.integers(0, 256, 3).astype(np.float32)
        if (np.abs(colour - under).mean() > 70 and all(
                np.abs(colour - other).mean() > 45 for other in others)):
            break
    return colour


def _shaded_fill(canvas: np.ndarray, mask: np.ndarray, colour: np.ndarray,
                 rng: np.random.Generator) -> None:
    """Paint ``colour`` with a gentle linear shading where ``mask`` is set."""
    ys, xs = np.nonzero(mask)
    slope = rng.uniform(-0.4, 0.4, 2)
    shade = (xs - xs.mean()) * slope[0] + (ys - ys.mean()) * slope[1]
    canvas[ys, xs] = colour + shade[:, None].astype(np.float32)


def _keeps_visible(mask: np.ndarray, ids: np.ndarray,
                   full_areas: Dict[int, int]) -> bool:
    """Whether ``mask`` painted over ``ids`` leaves every object visible.

    The new object must show at least :data:`MIN_AREA` px, and every earlier
    one (id ``k`` of unoccluded area ``full_areas[k]``) must keep at least
    ``MIN_AREA`` px and :data:`MIN_VISIBLE` of its area.
    """
    if mask.sum() < MIN_AREA:
        return False
    covered = np.bincount(ids[mask], minlength=len(full_areas) + 1)
    left = np.bincount(ids.ravel(), minlength=len(full_areas) + 1) - covered
    return all(left[k] >= max(MIN_AREA, MIN_VISIBLE * full)
               for k, full in full_areas.items())


def _place(rng: np.random.Generator, shape: Shape, size: float,
           ids: np.ndarray, full_areas: Dict[int, int],
           centres: List[Tuple[float, float, float]]) -> Optional[np.ndarray]:
    """Find where a shape may go (see :func:`_keeps_visible`).

    With chance :data:`OVERLAP_CHANCE` a try puts the shape across an
    earlier one. Returns the shape's mask, or ``None`` if no try fits.
    """
    height, width = ids.shape
    for _ in range(25):
        if centres and rng.random() < OVERLAP_CHANCE:
            px, py, psize = centres[int(rng.integers(len(centres)))]
            angle = rng.uniform(0, 2 * np.pi)
            dist = rng.uniform(0.35, 0.8) * (psize + size) / 2
            cx = float(
                np.clip(px + dist * np.cos(angle), 0.3 * size,
                        width - 0.3 * size))
            cy = float(
                np.clip(py + dist * np.sin(angle), 0.3 * size,
                        height - 0.3 * size))
        else:
            cx = rng.uniform(0.3 * size, width - 0.3 * size)
            cy = rng.uniform(0.3 * size, height - 0.3 * size)
        mask = np.zeros(ids.shape, np.uint8)
        shape(mask, rng, cx, cy, size)
        mask = mask.astype(bool)
        if _keeps_visible(mask, ids, full_areas):
            centres.append((cx, cy, size))
            return mask
    return None


def _crowd(rng: np.random.Generator, shape: Shape, ids: np.ndarray,
           full_areas: Dict[int, int]) -> Tuple[Optional[np.ndarray], list]:
    """A cluster of 5 to 12 small shapes of one category, as one region.

    Returns the union mask (``None`` if it does not fit) and the masks of
    the single shapes, which are painted in their own colours.
    """
    height, width = ids.shape
    extent = rng.uniform(50, 100)
    for _ in range(10):
        x0 = rng.uniform(0, max(width - extent, 1))
        y0 = rng.uniform(0, max(height - extent, 1))
        pieces = []
        for _ in range(int(rng.integers(5, 13))):
            piece = np.zeros(ids.shape, np.uint8)
            shape(piece, rng, x0 + rng.uniform(0, extent),
                  y0 + rng.uniform(0, extent), rng.uniform(10, 18))
            pieces.append(piece.astype(bool))
        mask = np.logical_or.reduce(pieces)
        if _keeps_visible(mask, ids, full_areas):
            return mask, pieces
    return None, []


def _draw(
    rng: np.random.Generator,
    paint_background: Background = _background
) -> Tuple[np.ndarray, List[dict]]:
    """Draw one image; return it and its visible instances in paint order.

    Each instance is a dict with ``category`` (index into
    :data:`COCO_SHAPE_CLASSES`), ``crowd`` (bool) and ``mask`` (bool array of
    the visible pixels). ``paint_background(rng, height, width)`` gives the
    float image the shapes are painted on (their colours are chosen to stand
    out from it).
    """
    low, high = IMAGE_SIDE_RANGE
    height, width = (int(side) for side in rng.integers(low, high + 1, 2))
    background = paint_background(rng, height, width)
    canvas = background.copy()
    ids = np.zeros((height, width), np.int64)
    shapes = list(COCO_SHAPE_CLASSES.values())
    num_objects = int(rng.integers(1, 7))
    crowd_at = -1
    if rng.random() < CROWD_CHANCE:
        crowd_at = int(rng.integers(0, num_objects + 1))
    full_areas: Dict[int, int] = {}
    centres: List[Tuple[float, float, float]] = []
    colours: List[np.ndarray] = []
    meta: List[Tuple[int, bool]] = []
    for slot in range(num_objects + (crowd_at >= 0)):
        crowd = slot == crowd_at
        category = int(rng.integers(len(shapes)))
        if crowd:
            mask, pieces = _crowd(rng, shapes[category], ids, full_areas)
        else:
            size = float(np.exp(rng.uniform(*np.log(SIZE_RANGE))))
            size = min(size, 0.8 * min(height, width))
            mask = _place(rng, shapes[category], size, ids, full_areas,
                          centres)
            pieces = [] if mask is None else [mask]
        if mask is None:
            continue
        for piece in pieces:
            colour = _colour(rng, background[piece].mean(0), colours)
            _shaded_fill(canvas, piece, colour, rng)
        if not crowd:
            colours.append(colour)
        meta.append((category, crowd))
        ids[mask] = len(meta)
        full_areas[len(meta)] = int(mask.sum())

    noise = rng.normal(0, rng.uniform(2, 10), canvas.shape)
    img = np.clip(canvas + noise, 0, 255).astype(np.uint8)
    instances = [
        dict(category=category, crowd=crowd, mask=ids == k)
        for k, (category, crowd) in enumerate(meta, 1)
    ]
    # _keeps_visible already keeps every instance at least MIN_AREA large;
    # drop any that would not be, should that rule ever change
    instances = [inst for inst in instances if inst['mask'].sum() >= MIN_AREA]
    return img, instances


def _polygons(mask: np.ndarray) -> Optional[List[List[float]]]:
    """COCO polygons that decode exactly to ``mask``, or ``None``.

    The contours are traced on the mask upsampled 2x, so they run along the
    pixel edges (a contour through the pixel centres would lose half a pixel
    all round when pycocotools fills it). ``None`` where polygons cannot
    hold the mask exactly (holes, one-pixel slivers).
    """
    big = np.repeat(np.repeat(mask.astype(np.uint8), 2, 0), 2, 1)
    contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    for contour in contours:
        points = cv2.approxPolyDP(contour, 0.5, True).reshape(-1, 2)
        if len(points) < 3:
            return None
        polygons.append(((points + 0.5) / 2).ravel().tolist())
    if not polygons:
        return None
    height, width = mask.shape
    decoded = mask_util.decode(
        mask_util.merge(mask_util.frPyObjects(polygons, height, width)))
    if not np.array_equal(decoded.astype(bool), mask):
        return None
    return polygons


def _compressed_rle(mask: np.ndarray) -> dict:
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(
        size=[int(s) for s in rle['size']],
        counts=rle['counts'].decode('ascii'))


def _uncompressed_rle(mask: np.ndarray) -> dict:
    """Run lengths over the column-major mask, starting with a 0-run."""
    flat = mask.ravel(order='F').astype(np.int8)
    edges = np.flatnonzero(np.diff(flat)) + 1
    counts = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    if flat[0]:
        counts = [0] + counts
    return dict(size=list(mask.shape), counts=counts)


def _annotation(inst: dict, rng: np.random.Generator) -> Tuple[dict, str]:
    """The COCO annotation fields of one instance and its mask kind."""
    mask = inst['mask']
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    bbox = [
        float(x0),
        float(y0),
        float(xs.max() + 1 - x0),
        float(ys.max() + 1 - y0)
    ]
    if inst['crowd']:
        segmentation, kind = _uncompressed_rle(mask), 'crowd'
    else:
        polygons = None
        if rng.random() >= RLE_FRACTION:
            polygons = _polygons(mask)
        if polygons is None:
            segmentation, kind = _compressed_rle(mask), 'rle'
        else:
            segmentation, kind = polygons, 'polygon'
    ann = dict(
        category_id=inst['category'] + 1,
        segmentation=segmentation,
        area=float(len(xs)),
        bbox=bbox,
        iscrowd=int(inst['crowd']))
    return ann, kind


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

    iterator = jobs
    if progress:
        from rich.progress import track
        iterator = track(jobs, description='writing images')
    for split, i in iterator:
        # one generator per image: any subset regenerates identically
        rng = np.random.default_rng([seed, i, split == 'val'])
        img, instances = _draw(rng)
        image_id = i + 1
        file_name = f'{image_id:012d}.jpg'
        folder = osp.join(out_dir, f'{split}2017')
        os.makedirs(folder, exist_ok=True)
        path = osp.join(folder, file_name)
        if not cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, 90]):
            raise OSError(f'Could not write {path}')
        images[split].append(
            dict(
                id=image_id,
                file_name=file_name,
                height=img.shape[0],
                width=img.shape[1]))
        for inst in instances:
            ann, kind = _annotation(inst, rng)
            ann = dict(
                id=len(annotations[split]) + 1, image_id=image_id, **ann)
            annotations[split].append(ann)
            counts[split][kind] += 1

    for split in images:
        counts[split]['images'] = len(images[split])
        counts[split]['annotations'] = len(annotations[split])
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
