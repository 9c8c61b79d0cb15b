"""The generated COCO-panoptic-format set.

The PNGs are decoded here with the format's plain definition (segment id =
R + 256 G + 256^2 B) and checked against the JSON files: ids, areas, boxes,
categories, the instance-format twin file; then mmdet's CocoPanopticDataset
loads the set with LoadPanopticAnnotations on the panopticapi stand-in.
"""
import contextlib
import filecmp
import importlib
import io
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from pycocotools.coco import COCO

from helpers import load_tool
from hornet_mm.datasets.synthetic import (COCO_PANOPTIC_CLASSES,
                                          COCO_PANOPTIC_STUFF_CLASSES,
                                          COCO_PANOPTIC_THING_CLASSES,
                                          make_coco_panoptic_style)

NUM_TRAIN, NUM_VAL = 6, 3
SPLITS = ('train', 'val')
THINGS = ('circle', 'rectangle', 'triangle', 'cross')
STUFF = ('sky', 'ground')
SKY, GROUND = 5, 6


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic_panoptic')
    counts = make_coco_panoptic_style(
        str(root), num_train=NUM_TRAIN, num_val=NUM_VAL, progress=False)
    assert counts['train']['images'] == NUM_TRAIN
    assert counts['val']['images'] == NUM_VAL
    return root, counts


def _json(root, name):
    with open(root / 'annotations' / name) as f:
        return json.load(f)


def _segment_ids(path):
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert bgr is not None and bgr.ndim == 3 and bgr.dtype == np.uint8
    blue, green, red = (bgr[..., c].astype(np.int64) for c in range(3))
    return red + 256 * green + 256 * 256 * blue


def _files(root):
    return sorted(
        osp.relpath(osp.join(d, f), root) for d, _, fs in os.walk(root)
        for f in fs)


def _panoptic_images(root, split):
    """(image info, annotation, segment-id map) of every image of a split."""
    data = _json(root, f'panoptic_{split}2017.json')
    infos = {info['id']: info for info in data['images']}
    for ann in data['annotations']:
        ids = _segment_ids(root / 'annotations' / f'panoptic_{split}2017' /
                           ann['file_name'])
        yield infos[ann['image_id']], ann, ids


def test_class_names():
    assert COCO_PANOPTIC_THING_CLASSES == THINGS
    assert COCO_PANOPTIC_STUFF_CLASSES == STUFF
    assert COCO_PANOPTIC_CLASSES == THINGS + STUFF


def test_layout_categories_and_counts(data_root):
    root, counts = data_root
    for split in SPLITS:
        data = _json(root, f'panoptic_{split}2017.json')
        assert set(data) >= {'images', 'annotations', 'categories'}
        assert data['categories'] == [
            dict(id=1, name='circle', supercategory='shape', isthing=1),
            dict(id=2, name='rectangle', supercategory='shape', isthing=1),
            dict(id=3, name='triangle', supercategory='shape', isthing=1),
            dict(id=4, name='cross', supercategory='shape', isthing=1),
            dict(id=5, name='sky', supercategory='scene', isthing=0),
            dict(id=6, name='ground', supercategory='scene', isthing=0),
        ]
        num = NUM_TRAIN if split == 'train' else NUM_VAL
        assert [img['id'] for img in data['images']] == list(range(1, num + 1))
        jpgs = [img['file_name'] for img in data['images']]
        assert jpgs == [f'{i:012d}.jpg' for i in range(1, num + 1)]
        assert sorted(os.listdir(root / f'{split}2017')) == jpgs
        pngs = [ann['file_name'] for ann in data['annotations']]
        assert pngs == [name.replace('.jpg', '.png') for name in jpgs]
        assert sorted(
            os.listdir(root / 'annotations' / f'panoptic_{split}2017')) == pngs
        assert [ann['image_id']
                for ann in data['annotations']] == list(range(1, num + 1))
        for info in data['images']:
            assert set(info) == {'id', 'file_name', 'height', 'width'}
            img = cv2.imread(str(root / f'{split}2017' / info['file_name']))
            assert img.shape == (info['height'], info['width'], 3)
        segments = [
            s for ann in data['annotations'] for s in ann['segments_info']
        ]
        for segment in segments:
            assert set(segment) == {
                'id', 'category_id', 'area', 'bbox', 'iscrowd'
            }
        things = [s for s in segments if s['category_id'] <= 4]
        assert counts[split] == dict(
            images=num,
            things=len(things),
            crowd=sum(s['iscrowd'] for s in things),
            stuff=len(segments) - len(things))
    # seed 0 at this size has crowd regions
    assert counts['train']['crowd'] + counts['val']['crowd'] > 0


@pytest.mark.parametrize('split', SPLITS)
def test_segments_match_the_pngs(data_root, split):
    root, _ = data_root
    for info, ann, ids in _panoptic_images(root, split):
        assert ids.shape == (info['height'], info['width'])
        segments = ann['segments_info']
        assert set(np.unique(
            ids[ids != 0]).tolist()) == {s['id']
                                         for s in segments}
        assert len(segments) == len({s['id'] for s in segments})
        for segment in segments:
            mask = ids == segment['id']
            ys, xs = np.nonzero(mask)
            assert segment['area'] == len(xs)
            assert segment['bbox'] == [
                xs.min(),
                ys.min(),
                xs.max() + 1 - xs.min(),
                ys.max() + 1 - ys.min()
            ]
            assert segment['category_id'] in range(1, 7)
            if segment['category_id'] > 4:
                assert segment['iscrowd'] == 0
            else:
                assert segment['iscrowd'] in (0, 1)
        stuff = [s['category_id'] for s in segments if s['category_id'] > 4]
        assert len(stuff) == len(set(stuff)), 'one segment per stuff class'
        assert 1 <= len(segments) - len(stuff) <= 7


def test_sky_over_ground_cover_the_background(data_root):
    root, _ = data_root
    seen = set()
    for split in SPLITS:
        for _, ann, ids in _panoptic_images(root, split):
            category = np.zeros(ids.shape, np.int64)
            for segment in ann['segments_info']:
                category[ids == segment['id']] = segment['category_id']
            not_things = (category == 0) | (category > 4)
            stuff = category > 4
            # only a thin horizon band (and tiny leftovers) is VOID
            assert stuff.sum() >= 0.95 * not_things.sum()
            rows = np.arange(ids.shape[0])[:, None].repeat(ids.shape[1], 1)
            present = set(np.unique(category[stuff]).tolist())
            seen |= present
            if present == {SKY, GROUND}:
                assert (rows[category == SKY].mean()
                        < rows[category == GROUND].mean())
    assert seen == {SKY, GROUND}


def test_stuff_looks_different(data_root):
    """Sky is bluer and smoother than the ground in every image."""
    root, _ = data_root
    for _, ann, ids in _panoptic_images(root, 'train'):
        img = cv2.imread(
            str(root / 'train2017' /
                ann['file_name'].replace('.png', '.jpg'))).astype(np.float64)
        regions = {}
        for segment in ann['segments_info']:
            if segment['category_id'] > 4:
                regions[segment['category_id']] = ids == segment['id']
        if set(regions) != {SKY, GROUND}:
            continue
        blue_minus_red = img[..., 0] - img[..., 2]
        assert (blue_minus_red[regions[SKY]].mean()
                > blue_minus_red[regions[GROUND]].mean() + 40)
        # pixel-to-pixel roughness along rows
        rough = np.abs(np.diff(img, axis=1)).mean(-1)
        inner = {k: m[:, 1:] & m[:, :-1] for k, m in regions.items()}
        assert rough[inner[SKY]].mean() < rough[inner[GROUND]].mean()


@pytest.mark.parametrize('split', SPLITS)
def test_instance_file_matches_thing_segments(data_root, split):
    root, _ = data_root
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(root / 'annotations' / f'instances_{split}2017.json'))
    assert coco.dataset['categories'] == [
        dict(id=i, name=name, supercategory='shape')
        for i, name in enumerate(THINGS, 1)
    ]
    panoptic = _json(root, f'panoptic_{split}2017.json')
    assert coco.dataset['images'] == panoptic['images']
    for _, ann, ids in _panoptic_images(root, split):
        things = [s for s in ann['segments_info'] if s['category_id'] <= 4]
        instances = coco.loadAnns(coco.getAnnIds(imgIds=ann['image_id']))
        assert len(instances) == len(things)
        # both in paint order
        for segment, instance in zip(things, instances):
            assert instance['category_id'] == segment['category_id']
            assert instance['iscrowd'] == segment['iscrowd']
            np.testing.assert_array_equal(
                coco.annToMask(instance).astype(bool), ids == segment['id'])
            assert instance['area'] == segment['area']
            assert instance['bbox'] == pytest.approx(segment['bbox'])


def test_generation_is_seeded(data_root, tmp_path):
    root, _ = data_root
    make_coco_panoptic_style(
        str(tmp_path / 'a'),
        num_train=NUM_TRAIN,
        num_val=NUM_VAL,
        progress=False)
    make_coco_panoptic_style(
        str(tmp_path / 'b'), num_train=2, num_val=1, seed=1, progress=False)
    files = _files(root)
    assert files == _files(tmp_path / 'a')
    _, mismatch, errors = filecmp.cmpfiles(
        root, tmp_path / 'a', files, shallow=False)
    assert not mismatch and not errors
    match, _, _ = filecmp.cmpfiles(
        root, tmp_path / 'b', _files(tmp_path / 'b'), shallow=False)
    assert not match


def test_tool_writes_the_set(tmp_path, monkeypatch, capsys):
    tool = load_tool('tools/misc/make_synthetic_data.py')
    monkeypatch.setattr(sys, 'argv', [
        'make_synthetic_data.py', 'coco-panoptic',
        str(tmp_path), '--num-train', '2', '--num-val', '1', '--seed', '3'
    ])
    assert tool.main() == 0
    out = capsys.readouterr().out
    assert 'train: 2 images' in out and 'val: 1 images' in out
    assert len(os.listdir(tmp_path / 'annotations' / 'panoptic_val2017')) == 1


def test_mmdet_loads_the_set(data_root):
    panoptic_api = importlib.import_module(
        'projects.hornet_mask2former.hornet_mask2former.panoptic_api')
    panoptic_api.use_as_panopticapi_if_missing()
    from mmdet.registry import DATASETS
    init_default_scope('mmdet')
    root, _ = data_root
    dataset = DATASETS.build(
        dict(
            type='CocoPanopticDataset',
            data_root=str(root),
            ann_file='annotations/panoptic_train2017.json',
            data_prefix=dict(
                img='train2017/', seg='annotations/panoptic_train2017/'),
            metainfo=dict(
                classes=THINGS + STUFF,
                thing_classes=THINGS,
                stuff_classes=STUFF),
            filter_cfg=dict(filter_empty_gt=True, min_size=32),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(
                    type='LoadPanopticAnnotations',
                    with_bbox=True,
                    with_mask=True,
                    with_seg=True)
            ]))
    assert len(dataset) == NUM_TRAIN
    panoptic = _json(root, 'panoptic_train2017.json')
    stuff_labels = set()
    crowd = 0
    for index in range(len(dataset)):
        sample = dataset[index]
        ann = panoptic['annotations'][sample['img_id'] - 1]
        ids = _segment_ids(root / 'annotations' / 'panoptic_train2017' /
                           ann['file_name'])
        assert sample['img'].shape[:2] == ids.shape
        things = [s for s in ann['segments_info'] if s['category_id'] <= 4]
        # mmdet keeps boxes and masks of the non-crowd things only
        plain = [s for s in things if not s['iscrowd']]
        np.testing.assert_array_equal(sample['gt_bboxes'].tensor.numpy(),
                                      [[x, y, x + w, y + h]
                                       for x, y, w, h in (s['bbox']
                                                          for s in plain)])
        np.testing.assert_array_equal(sample['gt_bboxes_labels'],
                                      [s['category_id'] - 1 for s in plain])
        assert set(sample['gt_bboxes_labels'].tolist()) <= {0, 1, 2, 3}
        assert not sample['gt_ignore_flags'].any()
        masks = sample['gt_masks'].masks
        assert len(masks) == len(plain)
        for mask, segment in zip(masks, plain):
            np.testing.assert_array_equal(mask, ids == segment['id'])
        crowd += len(things) - len(plain)
        # semantic map: label = category id - 1 everywhere, 255 on VOID
        expected = np.full(ids.shape, 255)
        for segment in ann['segments_info']:
            expected[ids == segment['id']] = segment['category_id'] - 1
        np.testing.assert_array_equal(sample['gt_seg_map'], expected)
        stuff_labels |= set(np.unique(sample['gt_seg_map']).tolist()) & {4, 5}
    assert stuff_labels == {4, 5}
    assert crowd > 0, 'want a crowd region (seed 0 at this size has one)'
