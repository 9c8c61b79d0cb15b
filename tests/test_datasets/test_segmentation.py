"""The ADE20K-style generator and the checked segmentation loading.

Bad label maps must stop with the file's name; the expected messages and
values are written out here, not derived from the code under test.
"""
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from hornet_mm.datasets.synthetic import ADE_STYLE_CLASSES, make_ade_style

CLASSES = ADE_STYLE_CLASSES


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp('ade')
    make_ade_style(str(root), num_train=6, num_val=3, seed=1)
    return root


def _dataset(root, split='training', **kwargs):
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    return DATASETS.build(
        dict(
            type='hornet_mm.ADE20KStyleDataset',
            data_root=str(root),
            metainfo=dict(classes=CLASSES),
            data_prefix=dict(
                img_path=f'images/{split}',
                seg_map_path=f'annotations/{split}'),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='hornet_mm.LoadSegAnnotations'),
            ],
            **kwargs))


def test_layout_and_label_values(root):
    for split, prefix, num in (('training', 'train', 6), ('validation', 'val',
                                                          3)):
        for i in range(1, num + 1):
            img = cv2.imread(
                str(root / 'images' / split / f'ADE_{prefix}_{i:08d}.jpg'))
            label = cv2.imread(
                str(root / 'annotations' / split /
                    f'ADE_{prefix}_{i:08d}.png'), cv2.IMREAD_UNCHANGED)
            assert label.ndim == 2 and label.dtype == np.uint8
            assert label.shape == img.shape[:2]
            assert set(np.unique(label)) <= set(range(len(CLASSES) + 1))
            # sky above ground in every column where both are present
            rows = np.arange(label.shape[0])[:, None]
            sky = np.where(label == 1, rows, -1).max(0)
            ground = np.where(label == 2, rows, label.shape[0]).min(0)
            both = (sky >= 0) & (ground < label.shape[0])
            assert (sky[both] < ground[both]).all()


def test_same_seed_same_files(tmp_path):
    make_ade_style(str(tmp_path / 'a'), num_train=2, num_val=1, seed=3)
    make_ade_style(str(tmp_path / 'b'), num_train=2, num_val=1, seed=3)
    make_ade_style(str(tmp_path / 'c'), num_train=2, num_val=1, seed=4)
    name = osp.join('annotations', 'training', 'ADE_train_00000002.png')
    a, b, c = (open(tmp_path / d / name, 'rb').read() for d in 'abc')
    assert a == b and a != c


def test_reduce_zero_label(root):
    dataset = _dataset(root)
    sample = dataset[0]
    raw = cv2.imread(sample['seg_map_path'], cv2.IMREAD_UNCHANGED)
    gt = sample['gt_seg_map']
    assert (gt[raw == 0] == 255).all()  # "other" is ignored
    for value in range(1, len(CLASSES) + 1):
        assert (gt[raw == value] == value - 1).all()
    assert sample['num_classes'] == len(CLASSES)


def _copy_split(root, tmp_path):
    import shutil
    target = tmp_path / 'copy'
    shutil.copytree(root, target)
    return target


def test_missing_label_map_names_it(root, tmp_path):
    copy = _copy_split(root, tmp_path)
    missing = copy / 'annotations' / 'training' / 'ADE_train_00000004.png'
    missing.unlink()
    with pytest.raises(FileNotFoundError) as err:
        _dataset(copy)
    assert '1 of 6 images have no label map' in str(err.value)
    assert str(missing) in str(err.value)


def test_label_values_beyond_classes_name_the_file(root, tmp_path):
    copy = _copy_split(root, tmp_path)
    path = copy / 'annotations' / 'training' / 'ADE_train_00000002.png'
    label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    label[:3, :3] = 7  # 6 classes: valid values are 0..6
    label[5, 5] = 9
    cv2.imwrite(str(path), label)
    dataset = _dataset(copy)
    dataset[0]  # the other maps are fine
    with pytest.raises(ValueError) as err:
        dataset[1]
    message = str(err.value)
    assert message.startswith(str(path))
    assert 'label values [7, 9] are beyond the 6 classes' in message
    assert '0 (other) and 1..6' in message


def test_ignore_value_255_is_allowed(root, tmp_path):
    copy = _copy_split(root, tmp_path)
    path = copy / 'annotations' / 'training' / 'ADE_train_00000001.png'
    label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    label[:4, :4] = 255
    cv2.imwrite(str(path), label)
    gt = _dataset(copy)[0]['gt_seg_map']
    assert (gt[:4, :4] == 255).all()


def test_without_reduce_zero_label_values_are_classes(root):
    dataset = _dataset(root, reduce_zero_label=False)
    # raw value 6 (the last class, cross) would be class index 6 of 6
    sample = None
    for i in range(len(dataset)):
        raw = cv2.imread(
            dataset.get_data_info(i)['seg_map_path'], cv2.IMREAD_UNCHANGED)
        if (raw == 6).any():
            sample = i
            break
    assert sample is not None
    with pytest.raises(
            ValueError,
            match=r'label values \[6\] are beyond the '
            r'6 classes .*valid: 0\.\.5 and 255'):
        dataset[sample]


def test_label_map_of_another_size_names_both_files(root, tmp_path):
    copy = _copy_split(root, tmp_path)
    path = copy / 'annotations' / 'training' / 'ADE_train_00000003.png'
    label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(path), label[:-5])
    img = copy / 'images' / 'training' / 'ADE_train_00000003.jpg'
    h, w = cv2.imread(str(img)).shape[:2]
    with pytest.raises(ValueError) as err:
        _dataset(copy)[2]
    assert str(err.value) == (
        f'{path}: label map is {h - 5}x{w} (HxW) but its image {img} is '
        f'{h}x{w}')


def test_colour_label_map_is_refused(root, tmp_path):
    copy = _copy_split(root, tmp_path)
    path = copy / 'annotations' / 'training' / 'ADE_train_00000001.png'
    label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(path), np.stack([label] * 3, -1))
    with pytest.raises(ValueError, match='must have one channel'):
        _dataset(copy)[0]


def test_classes_are_required(root):
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    with pytest.raises(ValueError, match='metainfo=dict.classes'):
        DATASETS.build(
            dict(type='hornet_mm.ADE20KStyleDataset', data_root=str(root)))


def test_ade20k_dataset_checks_too(root, tmp_path):
    """hornet_mm.ADE20KDataset: mmseg's 150 classes plus the checks."""
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    copy = _copy_split(root, tmp_path)
    (copy / 'annotations' / 'validation' / 'ADE_val_00000002.png').unlink()
    with pytest.raises(FileNotFoundError, match='ADE_val_00000002.png'):
        DATASETS.build(
            dict(
                type='hornet_mm.ADE20KDataset',
                data_root=str(copy),
                data_prefix=dict(
                    img_path='images/validation',
                    seg_map_path='annotations/validation')))
    dataset = DATASETS.build(
        dict(
            type='hornet_mm.ADE20KDataset',
            data_root=str(root),
            data_prefix=dict(
                img_path='images/validation',
                seg_map_path='annotations/validation')))
    assert len(dataset) == 3
    assert dataset.get_data_info(0)['num_classes'] == 150
