"""What more than one synthetic-data writer uses.

* colours and fills: :func:`distinct_colour`, :func:`shaded_fill`;
* backgrounds: :func:`smooth_noise`, :func:`skyline` (a wavy horizon),
  :func:`textured_background`;
* the shapes of the COCO-style sets (:data:`COCO_SHAPE_CLASSES`) and the
  scene of overlapping shapes, crowd clusters and visible masks the COCO
  instance and panoptic writers share (:func:`draw_shapes`);
* the COCO annotation of one drawn instance (:func:`coco_annotation`:
  polygons, compressed or uncompressed RLE);
* :func:`write_image`: ``cv2.imwrite`` that raises when nothing is written;
* :func:`track_jobs`: the writers' progress bar.

Every function draws from the ``rng`` it is given in a fixed order, so a
writer that calls them in a fixed order writes byte-identical files for a
seed.
"""
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_util

__all__ = [
    'COCO_SHAPE_CLASSES', 'coco_annotation', 'distinct_colour', 'draw_shapes',
    'shaded_fill', 'skyline', 'smooth_noise', 'textured_background',
    'track_jobs', 'write_image'
]

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


def write_image(path: str, img: np.ndarray,
                params: Sequence[int] = ()) -> None:
    """``cv2.imwrite(path, img, params)``; raises ``OSError`` if it fails."""
    if not cv2.imwrite(path, img, list(params)):
        raise OSError(f'Could not write {path}')


def track_jobs(jobs: Sequence, show: bool = True) -> Iterable:
    """``jobs`` under a rich progress bar on a console of its own (or as
    they are when not ``show``).

    rich's shared console takes one live display at a time, and an
    inferencer stopped mid-way (mmpretrain's, in one process with a writer)
    can leave its display open there: a bar on the shared console would then
    raise ``LiveError``.
    """
    if not show:
        return jobs
    from rich.console import Console
    from rich.progress import track
    return track(jobs, description='writing images', console=Console())


def smooth_noise(rng: np.random.Generator, height: int, width: int,
                 cells: int) -> np.ndarray:
    """Zero-mean, unit-scale noise varying over about ``cells`` cells."""
    grid = rng.normal(0, 1, (cells, cells)).astype(np.float32)
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)


def skyline(rng: np.random.Generator, width: int, base: float,
            amplitude: float) -> np.ndarray:
    """A random smooth curve: row of the boundary at every column."""
    x = np.linspace(0, 2 * np.pi, width)
    curve = np.full(width, base)
    for _ in range(3):
        curve += amplitude * rng.uniform(
            0.2,
            1) * np.sin(rng.uniform(0.5, 3) * x + rng.uniform(0, 2 * np.pi))
    return curve


def distinct_colour(rng: np.random.Generator, under: np.ndarray,
                    others: List[np.ndarray]) -> np.ndarray:
    """A colour far from the background under the object and earlier ones."""
    for _ in range(30):
        colour = rng.integers(0, 256, 3).astype(np.float32)
        if (np.abs(colour - under).mean() > 70 and all(
                np.abs(colour - other).mean() > 45 for other in others)):
            break
    return colour


def shaded_fill(canvas: np.ndarray, mask: np.ndarray, colour: np.ndarray,
                rng: np.random.Generator) -> None:
    """Paint ``colour`` with a gentle linear shading where ``mask`` is set."""
    ys, xs = np.nonzero(mask)
    slope = rng.uniform(-0.4, 0.4, 2)
    shade = (xs - xs.mean()) * slope[0] + (ys - ys.mean()) * slope[1]
    canvas[ys, xs] = colour + shade[:, None].astype(np.float32)


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


def textured_background(rng: np.random.Generator, height: int,
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


def draw_shapes(
    rng: np.random.Generator,
    paint_background: Background = textured_background
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
            colour = distinct_colour(rng, background[piece].mean(0), colours)
            shaded_fill(canvas, piece, colour, rng)
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


def coco_annotation(inst: dict, rng: np.random.Generator) -> Tuple[dict, str]:
    """The COCO annotation fields of one instance and its mask kind.

    ``inst`` is an instance of :func:`draw_shapes`; the kind is
    ``'polygon'``, ``'rle'`` (compressed RLE, with chance
    :data:`RLE_FRACTION` or where polygons cannot hold the mask) or
    ``'crowd'`` (uncompressed RLE).
    """
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
