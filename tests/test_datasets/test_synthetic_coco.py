"""The generated COCO-format instance-segmentation set.

The annotations are checked against what pycocotools and mmdet decode from
them: boxes and areas against the decoded masks, COCOeval of the ground
truth against itself, and mmdet's CocoDataset pipeline.
"""
import contextlib
import filecmp
import io
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from hornet_mm.datasets.synthetic import COCO_SHAPE_CLASSES, make_coco_style

CLASSES = tuple(COCO_SHAPE_CLASSES)
NUM_TRAIN, NUM_VAL = 12, 6
SPLITS = ('train', 'val')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic_coco')
    counts = make_coco_style(
        str(root), num_train=NUM_TRAIN, num_val=NUM_VAL, progress=False)
    assert counts['train']['images'] == NUM_TRAIN
    assert counts['val']['images'] == NUM_VAL
    return root


def _ann_file(root, split):
    return str(root / 'annotations' / f'instances_{split}2017.json')


def _coco(root, split):
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(_ann_file(root, split))


def _kind(ann):
    if ann['iscrowd']:
        return 'crowd'
    return 'polygon' if isinstance(ann['segmentation'], list) else 'rle'


def _tight_box(mask):
    ys, xs = np.nonzero(mask)
    return np.array(
        [xs.min(),
         ys.min(),
         xs.max() + 1 - xs.min(),
         ys.max() + 1 - ys.min()], float)


def _files(root):
    return sorted(
        osp.relpath(osp.join(d, f), root) for d, _, fs in os.walk(root)
        for f in fs)


def test_layout_images_and_counts(data_root):
    shapes = set()
    for split in SPLITS:
        with open(_ann_file(data_root, split)) as f:
            data = json.load(f)
        assert set(data) >= {'images', 'annotations', 'categories'}
        assert data['categories'] == [
            dict(id=i, name=name, supercategory='shape')
            for i, name in enumerate(CLASSES, 1)
        ]
        num = NUM_TRAIN if split == 'train' else NUM_VAL
        assert [img['id'] for img in data['images']] == list(range(1, num + 1))
        assert sorted(os.listdir(data_root / f'{split}2017')) == sorted(
            img['file_name'] for img in data['images'])
        for info in data['images']:
            assert set(info) == {'id', 'file_name', 'height', 'width'}
            img = cv2.imread(
                str(data_root / f'{split}2017' / info['file_name']))
            assert img is not None and img.ndim == 3 and img.dtype == np.uint8
            assert img.shape[:2] == (info['height'], info['width'])
            assert 160 <= min(img.shape[:2]) <= max(img.shape[:2]) <= 320
            shapes.add(np.sign(img.shape[1] - img.shape[0]))
        ann_ids = [ann['id'] for ann in data['annotations']]
        assert ann_ids == list(range(1, len(ann_ids) + 1))
        for ann in data['annotations']:
            assert set(ann) == {
                'id', 'image_id', 'category_id', 'segmentation', 'area',
                'bbox', 'iscrowd'
            }
            assert all(isinstance(v, float) for v in ann['bbox'])
            assert ann['category_id'] in range(1, len(CLASSES) + 1)
            assert ann['iscrowd'] in (0, 1)
    assert {-1, 1} <= shapes, 'want portrait and landscape images'


def test_counts_returned(tmp_path):
    counts = make_coco_style(
        str(tmp_path), num_train=3, num_val=2, seed=5, progress=False)
    for split in SPLITS:
        data = json.loads((tmp_path / 'annotations' /
                           f'instances_{split}2017.json').read_text())
        kinds = [_kind(ann) for ann in data['annotations']]
        assert counts[split] == dict(
            images=len(data['images']),
            annotations=len(kinds),
            polygon=kinds.count('polygon'),
            rle=kinds.count('rle'),
            crowd=kinds.count('crowd'))


@pytest.mark.parametrize('split', SPLITS)
def test_boxes_and_areas_match_decoded_masks(data_root, split):
    coco = _coco(data_root, split)
    for img_id in coco.getImgIds():
        info = coco.loadImgs(img_id)[0]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        objects = [ann for ann in anns if not ann['iscrowd']]
        assert 1 <= len(objects) <= 6
        union = np.zeros((info['height'], info['width']), np.int32)
        for ann in anns:
            mask = coco.annToMask(ann)
            assert mask.shape == (info['height'], info['width'])
            assert mask.sum() >= 100, 'tiny visible parts are dropped'
            np.testing.assert_allclose(ann['bbox'], _tight_box(mask), atol=1)
            if _kind(ann) == 'polygon':
                assert all(
                    len(poly) >= 6 and len(poly) % 2 == 0
                    for poly in ann['segmentation'])
                assert abs(ann['area'] - mask.sum()) <= max(
                    2, 0.02 * mask.sum())
            else:
                counts = ann['segmentation']['counts']
                # crowd regions as in COCO: uncompressed RLE
                assert isinstance(counts, list if ann['iscrowd'] else str)
                assert ann['segmentation']['size'] == list(mask.shape)
                assert ann['area'] == mask.sum()
            union += mask
        # visible parts: occluded pixels belong to one instance only
        assert union.max() <= 1


def test_polygon_rle_and_crowd_present(data_root):
    kinds = {split: [] for split in SPLITS}
    parts = []
    for split in SPLITS:
        for ann in _coco(data_root, split).dataset['annotations']:
            kinds[split].append(_kind(ann))
            if kinds[split][-1] == 'polygon':
                parts.append(len(ann['segmentation']))
    # seed 0 at this size has every kind in both splits
    for split in SPLITS:
        assert {'polygon', 'rle', 'crowd'} <= set(kinds[split]), split
    all_kinds = kinds['train'] + kinds['val']
    assert all_kinds.count('polygon') > 0.6 * len(all_kinds)
    assert max(parts) > 1, 'want an object cut in parts by an occluder'


def test_generation_is_seeded(tmp_path, data_root):
    make_coco_style(
        str(tmp_path / 'a'),
        num_train=NUM_TRAIN,
        num_val=NUM_VAL,
        progress=False)
    make_coco_style(
        str(tmp_path / 'b'),
        num_train=NUM_TRAIN,
        num_val=NUM_VAL,
        seed=1,
        progress=False)
    files = _files(data_root)
    assert files == _files(tmp_path / 'a') == _files(tmp_path / 'b')
    match, mismatch, errors = filecmp.cmpfiles(
        data_root, tmp_path / 'a', files, shallow=False)
    assert not mismatch and not errors
    match, _, _ = filecmp.cmpfiles(
        data_root, tmp_path / 'b', files, shallow=False)
    assert not match
    # one generator per image: a smaller set holds the same first images
    make_coco_style(
        str(tmp_path / 'c'), num_train=2, num_val=1, progress=False)
    rel = osp.join('val2017', '000000000001.jpg')
    assert filecmp.cmp(data_root / rel, tmp_path / 'c' / rel, shallow=False)


def _evaluate(coco, results, iou_type):
    with contextlib.redirect_stdout(io.StringIO()):
        dets = coco.loadRes(results)
        evaluator = COCOeval(coco, dets, iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


def test_cocoeval_of_ground_truth_against_itself(data_root):
    coco = _coco(data_root, 'val')
    anns = [ann for ann in coco.dataset['annotations'] if not ann['iscrowd']]
    boxes = [
        dict(
            image_id=ann['image_id'],
            category_id=ann['category_id'],
            bbox=ann['bbox'],
            score=1.0) for ann in anns
    ]
    masks = []
    for ann in anns:
        rle = coco.annToRLE(ann)
        counts = rle['counts']  # str as stored for RLE, bytes from polygons
        masks.append(
            dict(
                image_id=ann['image_id'],
                category_id=ann['category_id'],
                segmentation=dict(
                    size=rle['size'],
                    counts=counts
                    if isinstance(counts, str) else counts.decode()),
                score=1.0))
    assert _evaluate(coco, boxes, 'bbox')[0] == 1.0
    assert _evaluate(coco, masks, 'segm')[0] == 1.0
    shifted = [dict(box, bbox=[b + 4 for b in box['bbox']]) for box in boxes]
    assert _evaluate(coco, shifted, 'bbox')[0] < 0.9


def _mmdet_dataset(root, poly2mask=True):
    from mmdet.datasets import CocoDataset
    init_default_scope('mmdet')
    return CocoDataset(
        data_root=str(root),
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        metainfo=dict(classes=CLASSES),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(
                type='LoadAnnotations',
                with_bbox=True,
                with_mask=True,
                poly2mask=poly2mask),
            dict(type='PackDetInputs')
        ])


def test_mmdet_coco_dataset_loads_masks(data_root):
    coco = _coco(data_root, 'train')
    dataset = _mmdet_dataset(data_root)
    assert len(dataset) == NUM_TRAIN
    seen = set()
    for index in range(len(dataset)):
        sample = dataset[index]
        meta = sample['data_samples'].metainfo
        img_id = meta['img_id']
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        objects = [ann for ann in anns if not ann['iscrowd']]
        crowds = [ann for ann in anns if ann['iscrowd']]
        height, width = meta['ori_shape']
        assert sample['inputs'].shape == (3, height, width)
        gt = sample['data_samples'].gt_instances
        masks = gt.masks.masks
        assert masks.shape == (len(objects), height, width)
        assert gt.labels.tolist() == [a['category_id'] - 1 for a in objects]
        for mask, ann in zip(masks, objects):
            np.testing.assert_array_equal(mask, coco.annToMask(ann))
        boxes = np.array([a['bbox'] for a in objects]).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        np.testing.assert_allclose(gt.bboxes.numpy(), boxes)
        # crowd regions become ignored instances
        ignored = sample['data_samples'].ignored_instances
        assert len(ignored) == len(crowds)
        seen.update(_kind(ann) for ann in anns)
    assert seen == {'polygon', 'rle', 'crowd'}


def test_mmdet_poly2mask_false_ignores_rle_objects(data_root):
    """mmdet's PolygonMasks cannot hold RLE: such objects become ignored.

    Train with the default ``poly2mask=True`` on this set (as on COCO).
    """
    coco = _coco(data_root, 'train')
    img_id = next(ann['image_id'] for ann in coco.dataset['annotations']
                  if _kind(ann) == 'rle')
    anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
    dataset = _mmdet_dataset(data_root, poly2mask=False)
    sample = dataset[img_id - 1]
    assert sample['data_samples'].metainfo['img_id'] == img_id
    kinds = [_kind(ann) for ann in anns]
    assert len(sample['data_samples'].gt_instances) == kinds.count('polygon')
    assert len(sample['data_samples'].ignored_instances) == (
        kinds.count('rle') + kinds.count('crowd'))
