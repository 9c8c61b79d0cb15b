"""Image classification with a config and a checkpoint.

Example:
    >>> from hornet_mm.apis import classify_images
    >>> results = classify_images(['cat.jpg'],
    ...     'configs/hornet/hornet-tiny-gf_8xb128_in1k.py',
    ...     'checkpoints/hornet-tiny-gf_in1k.pth', topk=5)
    >>> results[0]['topk'][0]   # (class index, class name, score)
    (281, 'tabby, tabby cat', 0.87)
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np

__all__ = [
    'IMAGE_EXTENSIONS', 'expand_image_paths', 'check_image_files',
    'classify_images'
]

#: File endings taken as images in a directory (as mmengine's inferencers).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                    '.tiff', '.webp')


def expand_image_paths(paths: Sequence[str]) -> List[str]:
    """Image files as given, directories replaced by the image files in
    them (sorted, not recursive); a directory without any is an error
    naming it."""
    import os
    found: List[str] = []
    for path in paths:
        if not osp.isdir(path):
            found.append(path)
            continue
        images = sorted(
            osp.join(path, name) for name in os.listdir(path)
            if name.lower().endswith(IMAGE_EXTENSIONS)
            and osp.isfile(osp.join(path, name)))
        if not images:
            raise ValueError(
                f'Image directory {path} holds no images (files ending in '
                f'{", ".join(IMAGE_EXTENSIONS)})')
        found += images
    return found


def check_image_files(paths: Sequence[str]) -> None:
    """Raise an error naming the first path that is not a readable image."""
    import mmcv
    for path in paths:
        if not osp.isfile(path):
            raise FileNotFoundError(f'Image file not found: {path}')
        try:
            img = mmcv.imread(path)
        except Exception as err:  # mmcv raises various errors on bad bytes
            raise ValueError(f'Cannot decode image {path}: {err}') from err
        if img is None or img.size == 0:
            raise ValueError(f'Cannot decode image {path} (empty or corrupt)')


def classify_images(images: Sequence[str],
                    config: str,
                    checkpoint: Optional[str],
                    topk: int = 5,
                    device: str = 'cpu') -> List[Dict]:
    """Classify image files with an mmpretrain classifier.

    Args:
        images: Image files or directories of them.
        config: mmpretrain config of the classifier (a hornet_mm config or
            any config whose imports register the model).
        checkpoint: Weights (e.g. the output of
            ``tools/model_converters/hornet_to_mm.py``); None keeps the
            initialisation.
        topk: Number of best classes to report per image.
        device: Torch device.

    Returns:
        One dict per image: ``{'image': path, 'topk': [(index, name, score),
        ...]}`` sorted by descending score; ``name`` is None when the
        checkpoint carries no class names.
    """
    from mmpretrain.apis import ImageClassificationInferencer

    images = expand_image_paths(images)
    check_image_files(images)
    inferencer = ImageClassificationInferencer(
        model=config, pretrained=checkpoint or False, device=device)
    classes = inferencer.classes
    predictions = inferencer(list(images), batch_size=min(len(images), 8))
    results = []
    for path, pred in zip(images, predictions):
        scores = np.asarray(pred['pred_scores'])
        order = np.argsort(-scores)[:topk]
        results.append(
            dict(
                image=path,
                topk=[(int(i), classes[i] if classes else None,
                       float(scores[i])) for i in order]))
    return results
