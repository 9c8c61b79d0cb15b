"""Small, seeded, learnable datasets written in the standard on-disk formats.

``make_imagenet_style`` writes an ImageNet-layout classification set: JPEG
files in one folder per class under ``train/`` and ``val/``,
``meta/{train,val}.txt`` (``class/file.JPEG label``) and
``meta/classes.txt``. Each class is a visual concept a network can learn
(shapes, textures), drawn with random colours, sizes, positions, image sizes
and background noise, so accuracy on ``val/`` measures learning, not memory.
"""
import os
import os.path as osp
from typing import Callable, Dict, List, Optional

import cv2
import numpy as np

from .painting import track_jobs, write_image

__all__ = ['SHAPE_CLASSES', 'make_imagenet_style']

Painter = Callable[[np.ndarray, np.random.Generator, tuple], None]


def _contrasting_colours(rng: np.random.Generator):
    """A background and a foreground colour that differ by > 80 on average."""
    while True:
        bg = rng.integers(0, 256, 3)
        fg = rng.integers(0, 256, 3)
        if np.abs(bg - fg).sum() / 3 > 80:
            return tuple(int(c) for c in bg), tuple(int(c) for c in fg)


def _centre_and_size(img: np.ndarray, rng: np.random.Generator):
    h, w = img.shape[:2]
    size = int(rng.uniform(0.22, 0.4) * min(h, w))
    cx = int(rng.integers(size, w - size))
    cy = int(rng.integers(size, h - size))
    return cx, cy, size


def _circle(img, rng, fg):
    cx, cy, size = _centre_and_size(img, rng)
    cv2.circle(img, (cx, cy), size, fg, -1, lineType=cv2.LINE_AA)


def _square(img, rng, fg):
    cx, cy, size = _centre_and_size(img, rng)
    angle = rng.uniform(-20, 20)
    box = cv2.boxPoints(((cx, cy), (2 * size, 2 * size), angle))
    cv2.fillPoly(img, [box.astype(np.int32)], fg, lineType=cv2.LINE_AA)


def _triangle(img, rng, fg):
    cx, cy, size = _centre_and_size(img, rng)
    turn = rng.uniform(-0.3, 0.3)
    angles = turn + np.array([-np.pi / 2, np.pi / 6, 5 * np.pi / 6])
    pts = np.stack([cx + size * np.cos(angles), cy + size * np.sin(angles)],
                   axis=1)
    cv2.fillPoly(img, [pts.astype(np.int32)], fg, lineType=cv2.LINE_AA)


def _cross(img, rng, fg):
    cx, cy, size = _centre_and_size(img, rng)
    bar = max(2, size // 3)
    cv2.rectangle(img, (cx - size, cy - bar), (cx + size, cy + bar), fg, -1)
    cv2.rectangle(img, (cx - bar, cy - size), (cx + bar, cy + size), fg, -1)


def _stripes(axis: int) -> Painter:

    def paint(img, rng, fg):
        period = int(rng.integers(6, 14))
        width = max(2, period // 2)
        offset = int(rng.integers(0, period))
        length = img.shape[axis]
        for start in range(-offset, length, period):
            lo, hi = max(start, 0), max(min(start + width, length), 0)
            if axis == 0:
                img[lo:hi] = fg
            else:
                img[:, lo:hi] = fg

    return paint


def _checkerboard(img, rng, fg):
    cell = int(rng.integers(6, 14))
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    mask = ((yy // cell + xx // cell) % 2).astype(bool)
    img[mask] = fg


def _dots(img, rng, fg):
    step = int(rng.integers(10, 16))
    radius = max(2, step // 4)
    jitter = int(rng.integers(0, step))
    for y in range(jitter % step, img.shape[0], step):
        for x in range((jitter + y) % step, img.shape[1], step):
            cv2.circle(img, (x, y), radius, fg, -1, lineType=cv2.LINE_AA)


SHAPE_CLASSES: Dict[str, Painter] = {
    'circle': _circle,
    'square': _square,
    'triangle': _triangle,
    'cross': _cross,
    'horizontal_stripes': _stripes(0),
    'vertical_stripes': _stripes(1),
    'checkerboard': _checkerboard,
    'dots': _dots,
}


def _draw(painter: Painter, rng: np.random.Generator) -> np.ndarray:
    height = int(rng.integers(56, 120))
    width = int(rng.integers(56, 120))
    bg, fg = _contrasting_colours(rng)
    img = np.empty((height, width, 3), np.float32)
    img[:] = bg
    ramp = np.linspace(-1, 1, width, dtype=np.float32)[None, :, None]
    img += ramp * rng.uniform(-30, 30, 3).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    painter(img, rng, fg)
    noise = rng.normal(0, rng.uniform(2, 12), img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def make_imagenet_style(out_dir: str,
                        num_train: int = 150,
                        num_val: int = 25,
                        classes: Optional[List[str]] = None,
                        seed: int = 0,
                        progress: bool = True) -> Dict[str, int]:
    """Write a seeded ImageNet-layout dataset of drawn shapes and textures.

    Args:
        out_dir: Dataset root (``data_root`` of the config).
        num_train: Training images per class.
        num_val: Validation images per class.
        classes: Subset of :data:`SHAPE_CLASSES` names (default: all 8).
        seed: Seed; the same seed writes the same files.
        progress: Show a progress bar.

    Returns:
        Number of images written per split.
    """
    names = list(SHAPE_CLASSES) if classes is None else list(classes)
    unknown = sorted(set(names) - set(SHAPE_CLASSES))
    if unknown:
        raise ValueError(f'Unknown classes {unknown}; valid: '
                         f'{sorted(SHAPE_CLASSES)}')
    jobs = [(split, label, name, i)
            for split, count in (('train', num_train), ('val', num_val))
            for label, name in enumerate(names) for i in range(count)]
    os.makedirs(osp.join(out_dir, 'meta'), exist_ok=True)
    lines: Dict[str, List[str]] = {'train': [], 'val': []}

    iterator = track_jobs(jobs, progress)
    for split, label, name, i in iterator:
        # one generator per image: any subset regenerates identically
        rng = np.random.default_rng([seed, label, i, split == 'val'])
        img = _draw(SHAPE_CLASSES[name], rng)
        rel = f'{name}/{name}_{i:05d}.JPEG'
        path = osp.join(out_dir, split, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        write_image(path, img, (cv2.IMWRITE_JPEG_QUALITY, 92))
        lines[split].append(f'{rel} {label}')

    for split, split_lines in lines.items():
        with open(osp.join(out_dir, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(split_lines) + '\n')
    with open(osp.join(out_dir, 'meta', 'classes.txt'), 'w') as f:
        f.write('\n'.join(names) + '\n')
    return {split: len(split_lines) for split, split_lines in lines.items()}
