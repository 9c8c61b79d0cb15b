"""Detection / instance segmentation on image files with mmdet.

Example:
    >>> from hornet_mm.apis import detect_images
    >>> results = detect_images(['street.jpg'], 'configs/detection/...py',
    ...                         'work_dirs/.../epoch_12.pth', 'outputs/')
    >>> results[0]['picture']   # boxes, masks and labels drawn
    'outputs/vis/street.jpg'
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence

from .inference import check_image_files, expand_image_paths

__all__ = ['detect_images']


def detect_images(images: Sequence[str],
                  config: str,
                  checkpoint: Optional[str],
                  out_dir: str,
                  score_thr: float = 0.3,
                  device: str = 'cpu') -> List[Dict]:
    """Run an mmdet detector on image files and save annotated pictures.

    Args:
        images: Image files or directories of them.
        config: mmdet config of the detector.
        checkpoint: Its weights.
        out_dir: Pictures go to ``out_dir/vis/`` and predictions (JSON) to
            ``out_dir/preds/``, as mmdet's ``DetInferencer`` writes them.
        score_thr: Minimum score of the instances drawn and returned.
        device: Torch device.

    Returns:
        One dict per image: ``image``, ``picture`` (the annotated file) and
        ``instances``: ``[{'label', 'score', 'bbox'}]`` above the threshold,
        best first; ``label`` is the class name when the model has them.
    """
    from mmdet.apis import DetInferencer

    images = expand_image_paths(images)
    check_image_files(images)
    inferencer = DetInferencer(
        model=config, weights=checkpoint, device=device, show_progress=False)
    classes = (inferencer.model.dataset_meta or {}).get('classes')
    output = inferencer(
        list(images),
        out_dir=out_dir,
        pred_score_thr=score_thr,
        no_save_pred=False)
    results = []
    for path, pred in zip(images, output['predictions']):
        instances = [
            dict(
                label=classes[label] if classes else label,
                score=float(score),
                bbox=[float(v) for v in bbox]) for label, score, bbox in zip(
                    pred['labels'], pred['scores'], pred['bboxes'])
            if score >= score_thr
        ]
        stem = osp.splitext(osp.basename(path))[0]
        results.append(
            dict(
                image=path,
                picture=osp.join(out_dir, 'vis', f'{stem}.jpg'),
                instances=instances))
    return results
