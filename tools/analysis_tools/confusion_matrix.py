"""Confusion matrix of a detector or a segmentor from its test results.

Detection follows mmdet's ``confusion_matrix.py`` (score and IoU
thresholds, a background row and column; see
:mod:`hornet_mm.analysis.confusion`); segmentation counts pixels. Writes
``confusion_matrix.png`` (normalised per true class, counts in brackets)
and the raw counts as ``confusion_matrix.npy`` and ``.csv`` into SAVE_DIR.

Example::

    python tools/test.py CONFIG CKPT --out results.pkl
    python tools/analysis_tools/confusion_matrix.py CONFIG results.pkl \\
        work_dirs/confusion --score-thr 0.3 --tp-iou-thr 0.5
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional, Tuple

import numpy as np
from mmengine.config import DictAction

from hornet_mm.analysis.confusion import (ResultsError, detection_confusion,
                                          load_results, plot_confusion_matrix,
                                          segmentation_confusion)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Confusion matrix from the results of tools/test.py')
    parser.add_argument('config', help='the config the results were made with')
    parser.add_argument(
        'prediction_path', help='result file of tools/test.py --out (.pkl)')
    parser.add_argument('save_dir', help='directory for the matrix and plot')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.3,
        help='detection: score below which detections are left out')
    parser.add_argument(
        '--tp-iou-thr',
        type=float,
        default=0.5,
        help='detection: IoU at which a detection matches a box')
    parser.add_argument(
        '--nms-iou-thr',
        type=float,
        default=None,
        help='detection: class-wise NMS at this IoU before counting')
    parser.add_argument(
        '--ignore-crowd',
        action='store_true',
        help='detection: leave out ground truth marked ignore (crowd '
        'regions); mmdet counts them as boxes to find')
    parser.add_argument(
        '--color-theme', default='plasma', help='matplotlib colour map')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value pairs')
    return parser.parse_args(argv)


def build_test_dataset(cfg):
    """The config's test dataset, in the config's scope, and its task."""
    from mmengine.registry import DATASETS, init_default_scope
    scope = cfg.get('default_scope')
    if scope not in ('mmdet', 'mmseg'):
        raise ResultsError(
            f'confusion_matrix.py is for detectors (mmdet) and segmentors '
            f'(mmseg); the config\'s scope is {scope!r} (mmpretrain has its '
            'own tools/analysis_tools/confusion_matrix.py)')
    init_default_scope(scope)
    if cfg.get('custom_imports'):
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**cfg.custom_imports)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    return dataset, 'detection' if scope == 'mmdet' else 'segmentation'


def detection_matrix(args, dataset, results) -> Tuple[np.ndarray, List[str]]:
    classes = list(dataset.metainfo['classes'])
    index = {}
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        index[info.get('img_id', i)] = info
    ground_truth = []
    for i, result in enumerate(results):
        info = index.get(result.get('img_id', i))
        if info is None:
            raise ResultsError(
                f'result {i} is of image id {result.get("img_id")}, which '
                'is not in the config\'s test set: results of another '
                'dataset?')
        kept = [
            g for g in info['instances']
            if not (args.ignore_crowd and g.get('ignore_flag', 0))
        ]
        ground_truth.append(
            dict(
                bboxes=np.array([g['bbox'] for g in kept]).reshape(-1, 4),
                labels=np.array([g['bbox_label'] for g in kept])))
    matrix = detection_confusion(results, ground_truth, len(classes),
                                 args.score_thr, args.tp_iou_thr,
                                 args.nms_iou_thr)
    return matrix, classes + ['background']


def _label_map(result: dict) -> np.ndarray:
    gt = result.get('gt_sem_seg')
    if gt is not None:
        data = gt['data'] if isinstance(gt, dict) else gt
        return np.asarray(data).squeeze(0)
    path = result.get('seg_map_path')
    if not path:
        raise ResultsError('a result has neither gt_sem_seg nor '
                           'seg_map_path: cannot find its label map')
    import mmcv
    label = mmcv.imread(path, flag='unchanged', backend='pillow')
    label = label.astype(np.int64)
    if result.get('reduce_zero_label'):  # as mmseg's LoadAnnotations
        label[label == 0] = 255
        label = label - 1
        label[label == 254] = 255
    return label


def segmentation_matrix(dataset, results) -> Tuple[np.ndarray, List[str]]:
    classes = list(dataset.metainfo['classes'])
    preds, labels = [], []
    for result in results:
        pred = result['pred_sem_seg']
        pred = pred['data'] if isinstance(pred, dict) else pred
        preds.append(np.asarray(pred).squeeze(0))
        labels.append(_label_map(result))
    ignore = getattr(dataset, 'ignore_index', 255)
    return segmentation_confusion(preds, labels, len(classes), ignore), classes


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from hornet_mm.utils.atomic import atomic_path
    from hornet_mm.utils.cli import load_config
    try:
        cfg = load_config(args.config, args.cfg_options)
        dataset, task = build_test_dataset(cfg)
        results = load_results(args.prediction_path, task)
        if task == 'detection':
            matrix, labels = detection_matrix(args, dataset, results)
        else:
            matrix, labels = segmentation_matrix(dataset, results)
    except (ResultsError, FileNotFoundError, KeyError, ValueError) as err:
        sys.stderr.write(f'error: {err}\n')
        return 1
    os.makedirs(args.save_dir, exist_ok=True)
    stem = osp.join(args.save_dir, 'confusion_matrix')
    with atomic_path(stem + '.npy') as tmp, open(tmp, 'wb') as f:
        np.save(f, matrix)
    with atomic_path(stem + '.csv') as tmp:
        header = 'truth \\ predicted,' + ','.join(labels)
        rows = [
            f'{name},' + ','.join(str(int(v)) for v in row)
            for name, row in zip(labels, matrix)
        ]
        with open(tmp, 'w') as f:
            f.write('\n'.join([header] + rows) + '\n')
    title = 'Detection confusion matrix' if task == 'detection' else \
        'Pixel confusion matrix'
    if task == 'detection':
        title += (f' (score >= {args.score_thr:g}, IoU >= '
                  f'{args.tp_iou_thr:g})')
    plot_confusion_matrix(matrix, labels, stem + '.png', title,
                          args.color_theme)
    print(f'{task} confusion matrix of {len(results)} images, '
          f'{len(labels)} rows: {stem}.png, .npy, .csv')
    return 0


if __name__ == '__main__':
    sys.exit(main())
