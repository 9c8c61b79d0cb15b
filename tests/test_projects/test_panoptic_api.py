"""The panopticapi stand-in of the HorNet + Mask2Former project.

The colour encoding and Panoptic Quality are checked on small examples
worked out by hand; then mmdet's own PQ code (``pq_compute_single_core``,
``pq_compute_multi_core`` and ``CocoPanopticMetric``) runs on the stand-in
over two hand-drawn ground-truth / prediction PNG pairs.
"""
import importlib
import importlib.machinery
import sys
import types

import cv2
import numpy as np
import pytest

# importing the package (as the configs do) serves the stand-in where
# panopticapi is missing
panoptic_api = importlib.import_module(
    'projects.hornet_mask2former.hornet_mask2former.panoptic_api')

PANOPTICAPI_NAMES = ('panopticapi', 'panopticapi.utils',
                     'panopticapi.evaluation')


def _real_panopticapi_installed():
    return importlib.machinery.PathFinder.find_spec('panopticapi') is not None


def test_rgb2id_by_hand():
    rgb2id = panoptic_api.rgb2id
    # R + 256 G + 256^2 B
    assert rgb2id([1, 2, 3]) == 1 + 512 + 196608 == 197121
    assert rgb2id((255, 255, 255)) == 16777215
    assert rgb2id((0, 0, 0)) == 0
    assert isinstance(rgb2id([1, 2, 3]), int)
    image = np.array([[[0, 0, 0], [10, 0, 0], [255, 255, 255]],
                      [[0, 1, 0], [0, 0, 1], [44, 1, 1]]], np.uint8)
    ids = rgb2id(image)
    assert ids.shape == (2, 3)
    assert np.issubdtype(ids.dtype, np.integer)
    # no uint8 overflow
    np.testing.assert_array_equal(ids,
                                  [[0, 10, 16777215], [256, 65536, 65836]])


def test_id2rgb_by_hand():
    id2rgb = panoptic_api.id2rgb
    assert id2rgb(197121) == [1, 2, 3]
    assert id2rgb(0) == [0, 0, 0]
    assert id2rgb(16777215) == [255, 255, 255]
    # 65836 = 1 * 65536 + 1 * 256 + 44
    colours = id2rgb(np.array([[0, 10], [256, 65836]]))
    assert colours.dtype == np.uint8 and colours.shape == (2, 2, 3)
    np.testing.assert_array_equal(
        colours, [[[0, 0, 0], [10, 0, 0]], [[0, 1, 0], [44, 1, 1]]])


def test_round_trip():
    ids = np.random.default_rng(0).integers(0, 256**3, (7, 9))
    ids[0, :3] = [0, 255, 256**3 - 1]
    np.testing.assert_array_equal(
        panoptic_api.rgb2id(panoptic_api.id2rgb(ids)), ids)
    colour = [17, 0, 200]
    assert panoptic_api.id2rgb(panoptic_api.rgb2id(colour)) == colour


def test_constants():
    assert panoptic_api.OFFSET == 16777216
    assert panoptic_api.VOID == 0


# categories: 1 (thing) and 2 (stuff) with counts; 3 (thing) never seen
CATEGORIES = {
    1: dict(id=1, name='box', isthing=1),
    2: dict(id=2, name='grass', isthing=0),
    3: dict(id=3, name='ball', isthing=1),
}


def _hand_built_stat():
    """Category 1: TP IoU 0.8 and 0.6, 1 FP, 1 FN; category 2: TP 0.9, 1 FN.

    Split over two stats (as from two images) and summed.
    """
    first, second = panoptic_api.PQStat(), panoptic_api.PQStat()
    first[1].tp += 1
    first[1].iou += 0.8
    first[1].fn += 1
    first[2].tp += 1
    first[2].iou += 0.9
    second[1].tp += 1
    second[1].iou += 0.6
    second[1].fp += 1
    second[2].fn += 1
    first += second
    return first


def test_pq_stat_counts():
    stat = _hand_built_stat()
    assert (stat[1].tp, stat[1].fp, stat[1].fn) == (2, 1, 1)
    assert stat[1].iou == pytest.approx(1.4)
    assert (stat[2].tp, stat[2].fp, stat[2].fn) == (1, 0, 1)
    assert stat[2].iou == pytest.approx(0.9)
    assert isinstance(stat.pq_per_cat[1], panoptic_api.PQStatCat)
    total = panoptic_api.PQStatCat()
    total += stat[1]
    total += stat[2]
    assert (total.tp, total.fp, total.fn) == (3, 1, 2)
    assert total.iou == pytest.approx(2.3)


def test_pq_average_by_hand():
    stat = _hand_built_stat()
    # category 1: PQ = 1.4 / (2 + 0.5 + 0.5), SQ = 1.4 / 2, RQ = 2 / 3
    # category 2: PQ = 0.9 / (1 + 0.5), SQ = 0.9, RQ = 1 / 1.5
    # category 3 has no TP, FP or FN: out of the means, zeros per class
    cat1 = dict(pq=0.4666666667, sq=0.7, rq=0.6666666667)
    cat2 = dict(pq=0.6, sq=0.9, rq=0.6666666667)
    expected = {
        None: (dict(pq=0.5333333333, sq=0.8, rq=0.6666666667, n=2), {
            1: cat1,
            2: cat2,
            3: dict(pq=0.0, sq=0.0, rq=0.0)
        }),
        True: (dict(cat1, n=1), {
            1: cat1,
            3: dict(pq=0.0, sq=0.0, rq=0.0)
        }),
        False: (dict(cat2, n=1), {
            2: cat2
        }),
    }
    for isthing, (averages, per_class) in expected.items():
        got_averages, got_per_class = stat.pq_average(CATEGORIES, isthing)
        assert got_averages == pytest.approx(averages), isthing
        assert got_averages['n'] == averages['n']
        # mmdet pairs class names with the values in category order
        assert list(got_per_class) == list(per_class), isthing
        for category_id, scores in per_class.items():
            assert got_per_class[category_id] == pytest.approx(scores)


def test_pq_average_without_any_segment():
    averages, per_class = panoptic_api.PQStat().pq_average(CATEGORIES, None)
    assert averages == dict(pq=0.0, sq=0.0, rq=0.0, n=0)
    assert per_class == {k: dict(pq=0.0, sq=0.0, rq=0.0) for k in CATEGORIES}


def test_real_panopticapi_takes_precedence(monkeypatch):
    import mmdet.evaluation.metrics.coco_panoptic_metric as metric_module
    real = types.ModuleType('panopticapi')
    monkeypatch.setitem(sys.modules, 'panopticapi', real)
    monkeypatch.setattr(metric_module, 'PQStat', None)
    assert panoptic_api.use_as_panopticapi_if_missing() is False
    assert sys.modules['panopticapi'] is real
    assert metric_module.PQStat is None


@pytest.mark.skipif(
    _real_panopticapi_installed(), reason='panopticapi is installed')
# mmdet's CocoPanopticMetric.__del__ fails on the instance whose __init__
# raised
@pytest.mark.filterwarnings('ignore::pytest.PytestUnraisableExceptionWarning')
def test_stand_in_serves_mmdet_where_panopticapi_is_missing(monkeypatch):
    import mmdet.evaluation.functional.panoptic_utils as functional_module
    import mmdet.evaluation.metrics.coco_panoptic_metric as metric_module
    from mmdet.datasets.transforms import LoadPanopticAnnotations
    from mmdet.evaluation import CocoPanopticMetric

    # the state of a machine without panopticapi that imported mmdet first
    for name in PANOPTICAPI_NAMES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    for name in ('panopticapi', 'VOID', 'PQStat', 'id2rgb', 'rgb2id'):
        monkeypatch.setattr(metric_module, name, None)
    for name in ('PQStat', 'rgb2id'):
        monkeypatch.setattr(functional_module, name, None)
    with pytest.raises(ImportError):
        import panopticapi  # noqa: F401
    with pytest.raises(RuntimeError, match='panopticapi'):
        CocoPanopticMetric()
    with pytest.raises(ImportError, match='panopticapi'):
        LoadPanopticAnnotations()

    assert panoptic_api.use_as_panopticapi_if_missing() is True
    modules = [sys.modules[name] for name in PANOPTICAPI_NAMES]
    from panopticapi import utils
    from panopticapi.evaluation import OFFSET, VOID, PQStat, PQStatCat
    from panopticapi.utils import id2rgb, rgb2id
    assert utils is modules[1]
    assert PQStat is panoptic_api.PQStat
    assert PQStatCat is panoptic_api.PQStatCat
    assert rgb2id is panoptic_api.rgb2id and id2rgb is panoptic_api.id2rgb
    assert (OFFSET, VOID) == (256**3, 0)
    assert metric_module.panopticapi is modules[0]
    assert metric_module.PQStat is PQStat and metric_module.VOID == 0
    assert metric_module.rgb2id is rgb2id and metric_module.id2rgb is id2rgb
    assert functional_module.PQStat is PQStat
    assert functional_module.rgb2id is rgb2id
    assert functional_module.OFFSET == 256**3
    assert functional_module.VOID == 0
    assert isinstance(CocoPanopticMetric(), CocoPanopticMetric)
    assert LoadPanopticAnnotations().rgb2id is rgb2id

    # a second call changes nothing
    assert panoptic_api.use_as_panopticapi_if_missing() is True
    assert [sys.modules[name] for name in PANOPTICAPI_NAMES] == modules


# Two 4 x 5 images; the grids hold local labels, mapped to segment ids
# (some with G and B bytes) by the dicts. 0 is VOID. Category 0 is the
# thing, 1 the stuff category (labels as categories, as in mmdet's metric
# when it has no annotation file).
GT_1 = [[1, 1, 1, 2, 2],
        [1, 1, 1, 2, 2],
        [2, 2, 2, 2, 2],
        [0, 0, 2, 2, 2]]  # yapf: disable
PRED_1 = [[5, 5, 5, 5, 7],
          [5, 5, 7, 7, 7],
          [7, 7, 7, 7, 7],
          [9, 9, 7, 7, 7]]  # yapf: disable
GT_2 = [[3, 3, 0, 4, 4],
        [3, 3, 0, 4, 4],
        [6, 6, 6, 6, 6],
        [6, 6, 6, 6, 6]]  # yapf: disable
PRED_2 = [[1, 1, 1, 2, 2],
          [8, 8, 1, 2, 2],
          [8, 8, 3, 3, 3],
          [3, 3, 3, 3, 3]]  # yapf: disable
GT_IDS_1 = {1: 1, 2: 70000}
PRED_IDS_1 = {5: 5, 7: 7 * 256, 9: 9}
GT_IDS_2 = {3: 3, 4: 4 + 65536, 6: 6 * 256}
PRED_IDS_2 = {1: 1, 2: 2, 3: 3 * 65536, 8: 8}
THING, STUFF = 0, 1
PQ_CATEGORIES = {
    THING: dict(id=THING, name='thing', isthing=1),
    STUFF: dict(id=STUFF, name='stuff', isthing=0),
}


def _write_png(path, grid, ids):
    """Write the segment ids as RGB colours (R + 256 G + 256^2 B)."""
    segment_ids = np.zeros(np.shape(grid), np.int64)
    for label, segment_id in ids.items():
        segment_ids[np.array(grid) == label] = segment_id
    red = segment_ids % 256
    green = segment_ids // 256 % 256
    blue = segment_ids // 65536
    bgr = np.stack([blue, green, red], axis=-1).astype(np.uint8)
    assert cv2.imwrite(str(path), bgr)


def _segment(segment_id, category_id, area=None, iscrowd=0):
    info = dict(id=segment_id, category_id=category_id, iscrowd=iscrowd)
    if area is not None:
        info['area'] = area
    return info


@pytest.fixture
def annotation_pairs(tmp_path):
    panoptic_api.use_as_panopticapi_if_missing()
    gt_dir, pred_dir = tmp_path / 'gt', tmp_path / 'pred'
    gt_dir.mkdir()
    pred_dir.mkdir()
    _write_png(gt_dir / '1.png', GT_1, GT_IDS_1)
    _write_png(pred_dir / '1.png', PRED_1, PRED_IDS_1)
    _write_png(gt_dir / '2.png', GT_2, GT_IDS_2)
    _write_png(pred_dir / '2.png', PRED_2, PRED_IDS_2)
    gt_1 = dict(
        image_id=1,
        file_name='1.png',
        segments_info=[_segment(1, THING, 6),
                       _segment(70000, STUFF, 12)])
    pred_1 = dict(
        image_id=1,
        file_name='1.png',
        segments_info=[
            _segment(5, THING),
            _segment(7 * 256, STUFF),
            _segment(9, THING)
        ])
    gt_2 = dict(
        image_id=2,
        file_name='2.png',
        segments_info=[
            _segment(3, THING, 4),
            _segment(4 + 65536, THING, 4, iscrowd=1),
            _segment(6 * 256, STUFF, 10)
        ])
    pred_2 = dict(
        image_id=2,
        file_name='2.png',
        segments_info=[
            _segment(1, THING),
            _segment(2, THING),
            _segment(3 * 65536, STUFF),
            _segment(8, STUFF)
        ])
    return [(gt_1, pred_1), (gt_2, pred_2)], str(gt_dir), str(pred_dir)


# Worked out by hand from the grids:
# image 1: thing 5 ~ 1: |5 & 1| = 5, union 6 + 6 - 5 = 7 -> TP, IoU 5/7;
#   stuff 7 ~ 70000: 11 common px, union 12 + 12 - 11 = 13 -> TP, 11/13;
#   thing 9 lies on VOID only -> ignored.
# image 2: thing 1 ~ 3: 2 common px, union 4 + 4 - 2 - 2 (VOID) = 4, IoU
#   0.5 is not > 0.5 -> 3 is a FN, and 1 (2 of 4 px VOID, none on the crowd
#   region) a FP; thing 2 lies on the crowd region -> ignored;
#   stuff 3*65536 ~ 6*256: 8 common px, union 8 + 10 - 8 = 10 -> TP, 0.8;
#   stuff 8 (IoU 2/12 with 6*256) -> FP.
THING_PQ = dict(pq=5 / 7 / 2, sq=5 / 7, rq=0.5)  # 0.3571, 0.7143, 0.5
STUFF_PQ = dict(
    pq=(11 / 13 + 0.8) / 2.5, sq=(11 / 13 + 0.8) / 2,
    rq=0.8)  # 0.6585, 0.8231, 0.8
ALL_PQ = dict(pq=0.5078021978, sq=0.7686813187, rq=0.65)


def _check_counts(stat):
    assert (stat[THING].tp, stat[THING].fp, stat[THING].fn) == (1, 1, 1)
    assert stat[THING].iou == pytest.approx(5 / 7)
    assert (stat[STUFF].tp, stat[STUFF].fp, stat[STUFF].fn) == (2, 1, 0)
    assert stat[STUFF].iou == pytest.approx(11 / 13 + 0.8)


def test_mmdet_pq_compute_single_core(annotation_pairs):
    from mmdet.evaluation.functional import pq_compute_single_core
    pairs, gt_dir, pred_dir = annotation_pairs
    stat = pq_compute_single_core(0, pairs, gt_dir, pred_dir, PQ_CATEGORIES)
    _check_counts(stat)
    for isthing, expected in ((None, ALL_PQ), (True, THING_PQ), (False,
                                                                 STUFF_PQ)):
        averages, _ = stat.pq_average(PQ_CATEGORIES, isthing)
        assert averages['n'] == (2 if isthing is None else 1)
        for key, value in expected.items():
            assert averages[key] == pytest.approx(value), (isthing, key)


def test_mmdet_pq_compute_multi_core(annotation_pairs, capsys):
    from mmdet.evaluation.functional import pq_compute_multi_core
    pairs, gt_dir, pred_dir = annotation_pairs
    # one worker process: the counts travel back pickled
    _check_counts(
        pq_compute_multi_core(pairs, gt_dir, pred_dir, PQ_CATEGORIES, nproc=1))


def test_coco_panoptic_metric_reports_hand_computed_pq(annotation_pairs):
    from mmdet.evaluation import CocoPanopticMetric
    from mmdet.evaluation.functional import pq_compute_single_core
    pairs, gt_dir, pred_dir = annotation_pairs
    per_image = [
        pq_compute_single_core(0, [pair], gt_dir, pred_dir, PQ_CATEGORIES)
        for pair in pairs
    ]
    metric = CocoPanopticMetric(classwise=True)
    metric.dataset_meta = dict(
        classes=('thing', 'stuff'),
        thing_classes=('thing', ),
        stuff_classes=('stuff', ))
    # without an outfile prefix the metric sums per-batch PQStats
    results = metric.compute_metrics(per_image)
    expected = dict(
        PQ=ALL_PQ['pq'],
        SQ=ALL_PQ['sq'],
        RQ=ALL_PQ['rq'],
        PQ_th=THING_PQ['pq'],
        SQ_th=THING_PQ['sq'],
        RQ_th=THING_PQ['rq'],
        PQ_st=STUFF_PQ['pq'],
        SQ_st=STUFF_PQ['sq'],
        RQ_st=STUFF_PQ['rq'])
    assert set(results) == set(expected)
    for key, value in expected.items():
        assert results[key] == pytest.approx(100 * value), key
