"""tools/analysis_tools/confusion_matrix.py on the result files of
tools/test.py, against mmdet's own confusion matrix and mmseg's per-class
intersections."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch

from helpers import load_tool, random_checkpoint, repo_path
from hornet_mm.datasets.synthetic import make_ade_style, make_coco_style

NANO_DET = repo_path(
    'configs/detection/mask-rcnn_hornet-nano_fpn_1xb4-12e_synthetic-coco.py')
NANO_SEG = repo_path('configs/segmentation/'
                     'hornet-nano_upernet_1xb8-2k_synthetic-ade-128x128.py')


@pytest.fixture(scope='module')
def tool():
    return load_tool('tools/analysis_tools/confusion_matrix.py')


def _test_results(tmp, config, options):
    """tools/test.py's prediction dump of a random-weight model."""
    ckpt = random_checkpoint(config, tmp / 'model.pth')
    out = tmp / 'results.pkl'
    code = load_tool('tools/test.py').main([
        config, ckpt, '--work-dir',
        str(tmp / 'test'), '--out',
        str(out), '--cfg-options', *options
    ])
    assert code == 0 and osp.isfile(out)
    return str(out)


@pytest.fixture(scope='module')
def det_case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('det')
    make_coco_style(str(tmp / 'data'), num_train=1, num_val=6, progress=False)
    root = f'{tmp / "data"}/'
    ann = root + 'annotations/instances_val2017.json'
    options = [
        f'test_dataloader.dataset.data_root={root}',
        f'test_evaluator.ann_file={ann}', 'test_dataloader.num_workers=0',
        'model.test_cfg.rcnn.score_thr=0.0'
    ]
    return _test_results(tmp, NANO_DET, options), options


@pytest.fixture(scope='module')
def seg_case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('seg')
    make_ade_style(str(tmp / 'data'), num_train=1, num_val=3)
    options = [
        f'test_dataloader.dataset.data_root={tmp / "data"}',
        'test_dataloader.num_workers=0'
    ]
    return _test_results(tmp, NANO_SEG, options), options


def _mmdet_confusion():
    """mmdet 3.3's own tools/analysis_tools/confusion_matrix.py."""
    import mmdet
    path = osp.join(
        osp.dirname(mmdet.__file__), '.mim', 'tools', 'analysis_tools',
        'confusion_matrix.py')
    spec = importlib.util.spec_from_file_location('mmdet_confusion', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('score_thr, iou_thr', [(0.0, 0.5), (0.05, 0.3)])
def test_detection_equals_mmdet(tool, det_case, tmp_path, score_thr, iou_thr):
    import mmengine
    from mmengine.registry import DATASETS, init_default_scope

    from hornet_mm.utils.cli import load_config
    results, options = det_case
    assert tool.main([
        NANO_DET, results,
        str(tmp_path), '--score-thr',
        str(score_thr), '--tp-iou-thr',
        str(iou_thr), '--cfg-options', *options
    ]) == 0
    matrix = np.load(tmp_path / 'confusion_matrix.npy')
    assert (tmp_path / 'confusion_matrix.png').stat().st_size > 1000
    csv = (tmp_path / 'confusion_matrix.csv').read_text().splitlines()
    assert csv[0].endswith(',background') and len(csv) == 6

    cfg = load_config(NANO_DET)
    cfg.merge_from_dict(dict(x.split('=', 1) for x in options[:2]))
    init_default_scope('mmdet')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    want = _mmdet_confusion().calculate_confusion_matrix(
        dataset, mmengine.load(results), score_thr, None, iou_thr)
    assert matrix.shape == want.shape == (5, 5)
    assert (matrix == want).all()
    assert matrix.sum() > 20  # the random detector's boxes were counted


def test_segmentation_equals_mmseg_intersections(tool, seg_case, tmp_path):
    import mmengine
    from mmseg.evaluation.metrics import IoUMetric
    results, options = seg_case
    assert tool.main(
        [NANO_SEG, results,
         str(tmp_path), '--cfg-options', *options]) == 0
    matrix = np.load(tmp_path / 'confusion_matrix.npy')
    num_classes = matrix.shape[0]
    inter = np.zeros(num_classes)
    label_area = np.zeros(num_classes)
    pred_area = np.zeros(num_classes)
    for result in mmengine.load(results):
        pred = result['pred_sem_seg']['data'].squeeze(0)
        label = result['gt_sem_seg']['data'].squeeze(0)
        i, _, p, lab = IoUMetric.intersect_and_union(pred, label, num_classes,
                                                     255)
        inter, pred_area, label_area = (inter + i.numpy(),
                                        pred_area + p.numpy(),
                                        label_area + lab.numpy())
    assert np.array_equal(np.diag(matrix), inter)
    assert np.array_equal(matrix.sum(1), label_area)
    assert np.array_equal(matrix.sum(0), pred_area)


def test_wrong_result_file(tool, det_case, seg_case, tmp_path, capsys):
    det_results, det_options = det_case
    _, seg_options = seg_case
    assert tool.main(
        [NANO_SEG, det_results,
         str(tmp_path), '--cfg-options', *seg_options]) == 1
    assert 'holds detection results, but the config is a segmentation' in \
        capsys.readouterr().err
    cls = repo_path('configs/hornet/hornet-nano_1xb32_synthetic-in8.py')
    assert tool.main([cls, det_results, str(tmp_path)]) == 1
    assert "scope is 'mmpretrain'" in capsys.readouterr().err
    torch.save({'state_dict': {}}, tmp_path / 'ckpt.pth')
    assert tool.main([
        NANO_DET,
        str(tmp_path / 'ckpt.pth'),
        str(tmp_path), '--cfg-options', *det_options
    ]) == 1
    assert 'not a result file' in capsys.readouterr().err
