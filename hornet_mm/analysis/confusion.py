"""Confusion matrices of detections and of semantic segmentations.

* Detection (:func:`detection_confusion`), mmdet's definition: classes plus
  a background row and column. Each detection with a score of at least
  ``score_thr`` counts once for every ground-truth box it overlaps with IoU
  at least ``tp_iou_thr`` (``matrix[gt class, detected class]``); one that
  overlaps none is a background false positive (``matrix[-1, class]``); a
  ground-truth box that no detection of its class overlaps is missed
  (``matrix[class, -1]``). As in mmdet, ground truth marked ignore (crowd
  regions) counts like any box unless the caller leaves it out
  (``--ignore-crowd``).
* Segmentation (:func:`segmentation_confusion`): per pixel,
  ``matrix[true class, predicted class]``, pixels with the ignore index
  left out. Its trace over its sum is mmseg's ``aAcc``, ``diag / (row + col
  - diag)`` its per-class IoU.

:func:`load_results` reads a ``tools/test.py --out`` file and tells which
kind it holds; :func:`plot_confusion_matrix` draws a matrix normalised per
row (per true class).
"""
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

__all__ = [
    'ResultsError', 'load_results', 'detection_confusion',
    'segmentation_confusion', 'plot_confusion_matrix'
]


class ResultsError(ValueError):
    """A result file that is not what the confusion matrix needs."""


def _kind(result: Any) -> Optional[str]:
    if not isinstance(result, dict):
        return None
    if 'pred_instances' in result:
        return 'detection'
    if 'pred_sem_seg' in result:
        return 'segmentation'
    if 'pred_panoptic_seg' in result:
        return 'panoptic segmentation'
    if 'pred_score' in result or 'pred_label' in result:
        return 'classification'
    return None


def load_results(path: str, expected: Optional[str] = None) -> List[dict]:
    """The predictions dumped by ``tools/test.py CONFIG CKPT --out PATH``.

    Raises:
        ResultsError: not such a file, or of another kind than
            ``expected`` (``detection`` / ``segmentation``).
    """
    import mmengine
    if not osp.isfile(path):
        raise FileNotFoundError(f'Result file not found: {path}')
    try:
        results = mmengine.load(path)
    except Exception as err:  # pickle, json, yaml: many error types
        raise ResultsError(
            f'{path} is not a result file of tools/test.py --out: '
            f'{type(err).__name__}: {err}') from err
    if not isinstance(results, list) or not results:
        raise ResultsError(
            f'{path} is not a result file of tools/test.py --out (a '
            f'non-empty list of predictions), found {type(results).__name__}'
            f'{" (empty)" if isinstance(results, list) else ""}')
    kind = _kind(results[0])
    if kind is None:
        raise ResultsError(
            f'{path} does not hold predictions of tools/test.py --out '
            '(no pred_instances, pred_sem_seg or pred_score); with --out-item '
            'metrics it holds metrics')
    if expected is not None and kind != expected:
        raise ResultsError(
            f'{path} holds {kind} results, but the config is a {expected} '
            'model: give the result file of this config\'s test')
    return results


def _iou(boxes: np.ndarray, gts: np.ndarray) -> np.ndarray:
    """IoU of ``(n, 4)`` and ``(m, 4)`` xyxy boxes, ``(n, m)``."""
    if not len(boxes) or not len(gts):
        return np.zeros((len(boxes), len(gts)))
    lt = np.maximum(boxes[:, None, :2], gts[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], gts[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (boxes[:, 2:] - boxes[:, :2]).clip(0).prod(-1)
    area_b = (gts[:, 2:] - gts[:, :2]).clip(0).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, np.finfo(np.float64).eps)


def _array(value: Any) -> np.ndarray:
    return value.numpy() if hasattr(value, 'numpy') else np.asarray(value)


def detection_confusion(results: Sequence[dict],
                        ground_truth: Sequence[Dict[str, np.ndarray]],
                        num_classes: int,
                        score_thr: float = 0.3,
                        tp_iou_thr: float = 0.5,
                        nms_iou_thr: Optional[float] = None) -> np.ndarray:
    """``(num_classes + 1)^2`` matrix (rows: truth, columns: detections,
    last: background).

    Args:
        results: Per image, a dict with ``pred_instances`` (``bboxes``,
            ``scores``, ``labels``) in the original image's coordinates.
        ground_truth: Per image (same order), ``bboxes`` ``(m, 4)`` and
            ``labels`` ``(m,)`` of the boxes that count.
        num_classes: Classes of the dataset.
        score_thr: Detections below it are left out.
        tp_iou_thr: Overlap at which a detection matches a box.
        nms_iou_thr: Where given, class-wise NMS at this IoU first.
    """
    if len(results) != len(ground_truth):
        raise ResultsError(f'{len(results)} results for '
                           f'{len(ground_truth)} images of the dataset')
    matrix = np.zeros((num_classes + 1, num_classes + 1), np.int64)
    for result, gt in zip(results, ground_truth):
        pred = result['pred_instances']
        boxes = _array(pred['bboxes']).reshape(-1, 4).astype(np.float64)
        scores = _array(pred['scores']).reshape(-1)
        labels = _array(pred['labels']).reshape(-1).astype(np.int64)
        if nms_iou_thr is not None and len(boxes):
            import torch
            from torchvision.ops import batched_nms
            keep = batched_nms(
                torch.from_numpy(boxes),
                torch.from_numpy(scores).double(), torch.from_numpy(labels),
                nms_iou_thr).numpy()
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        gt_boxes = np.asarray(gt['bboxes'], np.float64).reshape(-1, 4)
        gt_labels = np.asarray(gt['labels'], np.int64).reshape(-1)
        found = np.zeros(len(gt_boxes), bool)
        ious = _iou(boxes, gt_boxes)
        for i in np.flatnonzero(scores >= score_thr):
            hits = np.flatnonzero(ious[i] >= tp_iou_thr)
            for j in hits:
                matrix[gt_labels[j], labels[i]] += 1
                found[j] |= gt_labels[j] == labels[i]
            if not len(hits):
                matrix[-1, labels[i]] += 1
        for j in np.flatnonzero(~found):
            matrix[gt_labels[j], -1] += 1
    return matrix


def segmentation_confusion(predictions: Sequence[np.ndarray],
                           labels: Sequence[np.ndarray],
                           num_classes: int,
                           ignore_index: int = 255) -> np.ndarray:
    """``num_classes^2`` pixel counts (rows: truth, columns: prediction)."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    for pred, label in zip(predictions, labels):
        pred = np.asarray(pred).reshape(-1).astype(np.int64)
        label = np.asarray(label).reshape(-1).astype(np.int64)
        if pred.shape != label.shape:
            raise ResultsError(f'prediction of {pred.size} pixels for a '
                               f'label map of {label.size}')
        keep = label != ignore_index
        pred, label = pred[keep], label[keep]
        if label.size and (label.max() >= num_classes or label.min() < 0):
            raise ResultsError(f'label {int(label.max())} in a label map of '
                               f'{num_classes} classes')
        matrix += np.bincount(
            label * num_classes + pred,
            minlength=num_classes**2).reshape(num_classes, num_classes)
    return matrix


def plot_confusion_matrix(matrix: np.ndarray,
                          labels: Sequence[str],
                          out: str,
                          title: str = 'Confusion matrix',
                          cmap: str = 'plasma') -> None:
    """A PNG of ``matrix`` normalised per row (percent of each true class),
    the raw counts beside the percentages."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from hornet_mm.utils.atomic import atomic_path
    rows = matrix.sum(axis=1, keepdims=True)
    percent = np.where(rows > 0, 100.0 * matrix / np.maximum(rows, 1), 0.0)
    size = len(labels)
    side = max(4.0, 0.6 * size + 2)
    fig, ax = plt.subplots(figsize=(side, side * 0.9), dpi=100)
    image = ax.imshow(percent, cmap=cmap, vmin=0, vmax=100)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label='% of row')
    ax.set_xticks(range(size), labels, rotation=45, ha='right')
    ax.set_yticks(range(size), labels)
    ax.set_xlabel('predicted')
    ax.set_ylabel('ground truth')
    ax.set_title(title)
    if size <= 30:
        for i in range(size):
            for j in range(size):
                colour = 'black' if percent[i, j] > 60 else 'white'
                ax.text(
                    j,
                    i,
                    f'{percent[i, j]:.0f}\n({matrix[i, j]})',
                    ha='center',
                    va='center',
                    fontsize=7,
                    color=colour)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format='png')
    plt.close(fig)
