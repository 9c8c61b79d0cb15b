"""Confusion matrices on cases counted by hand."""
import numpy as np
import pytest
import torch

from hornet_mm.analysis.confusion import (ResultsError, detection_confusion,
                                          load_results, plot_confusion_matrix,
                                          segmentation_confusion)


def _pred(boxes, scores, labels):
    return dict(
        pred_instances=dict(
            bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            scores=torch.tensor(scores),
            labels=torch.tensor(labels)))


GT = dict(
    bboxes=np.array([[0, 0, 10, 10], [20, 20, 30, 30], [0, 20, 5, 25]]),
    labels=np.array([0, 1, 2]))


def test_detection_counts_by_hand():
    result = _pred(
        [
            [0, 0, 10, 9],  # class 0 on box 0 (IoU 0.9): [0, 0]
            [1, 0, 10, 10],  # class 1 on box 0 (IoU 0.9): [0, 1]
            [20, 20, 30, 30],  # class 1 on box 1, score 0.2 < 0.3: left out
            [50, 50, 60, 60],  # class 2 on nothing: background [3, 2]
            [0, 20, 5, 24]
        ],  # class 0 on box 2 (IoU 0.8): [2, 0]
        [0.9, 0.8, 0.2, 0.7, 0.6],
        [0, 1, 1, 2, 0])
    matrix = detection_confusion([result], [GT], 3)
    want = np.zeros((4, 4), np.int64)
    want[0, 0] = want[0, 1] = want[3, 2] = want[2, 0] = 1
    want[1, 3] = want[2, 3] = 1  # boxes 1 and 2 missed by their class
    assert (matrix == want).all()
    # a lower score threshold lets the class-1 detection find box 1
    matrix = detection_confusion([result], [GT], 3, score_thr=0.1)
    assert matrix[1, 1] == 1 and matrix[1, 3] == 0
    # a stricter IoU: the 0.8 match of box 2 fails -> background and missed
    matrix = detection_confusion([result], [GT], 3, tp_iou_thr=0.85)
    assert matrix[2, 0] == 0 and matrix[3, 0] == 1 and matrix[2, 3] == 1


def test_detection_nms_merges_duplicates():
    duplicate = _pred([[0, 0, 10, 10], [0, 0, 10, 9.5]], [0.9, 0.8], [0, 0])
    gt = dict(bboxes=np.array([[0, 0, 10, 10]]), labels=np.array([0]))
    assert detection_confusion([duplicate], [gt], 1)[0, 0] == 2
    assert detection_confusion([duplicate], [gt], 1, nms_iou_thr=0.5)[0,
                                                                      0] == 1
    with pytest.raises(ResultsError, match='1 results for 2 images'):
        detection_confusion([duplicate], [gt, gt], 1)


def test_segmentation_counts_by_hand():
    pred = np.array([[0, 1, 1], [2, 2, 0]])
    label = np.array([[0, 1, 2], [2, 255, 1]])
    matrix = segmentation_confusion([pred], [label], 3)
    assert matrix.tolist() == [[1, 0, 0], [1, 1, 0], [0, 1, 1]]
    with pytest.raises(ResultsError, match='label 7 in a label map of 3'):
        segmentation_confusion([pred], [np.full((2, 3), 7)], 3)


def test_result_files(tmp_path):
    import mmengine
    det = tmp_path / 'det.pkl'
    mmengine.dump([_pred([[0, 0, 1, 1]], [0.5], [0])], str(det))
    assert len(load_results(str(det), 'detection')) == 1
    with pytest.raises(
            ResultsError,
            match='holds detection results, but '
            'the config is a segmentation model'):
        load_results(str(det), 'segmentation')
    metrics = tmp_path / 'metrics.json'
    mmengine.dump({'coco/bbox_mAP': 0.1}, str(metrics))
    with pytest.raises(ResultsError, match='found dict'):
        load_results(str(metrics))
    cls = tmp_path / 'cls.pkl'
    mmengine.dump([dict(pred_score=torch.rand(3))], str(cls))
    with pytest.raises(ResultsError, match='holds classification results'):
        load_results(str(cls), 'detection')
    text = tmp_path / 'x.pkl'
    text.write_text('not a pickle')
    with pytest.raises(ResultsError, match='not a result file'):
        load_results(str(text))


def test_plot(tmp_path):
    out = tmp_path / 'm.png'
    plot_confusion_matrix(np.array([[3, 1], [0, 0]]), ['a', 'b'], str(out))
    assert out.read_bytes()[:4] == b'\x89PNG'
