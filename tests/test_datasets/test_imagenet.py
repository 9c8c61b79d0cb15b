"""The generated ImageNet-style set and the checked dataset on bad input."""
import filecmp
import os.path as osp

import cv2
import pytest
from mmengine.registry import init_default_scope

from hornet_mm.datasets import ImageDecodeError
from hornet_mm.datasets.imagenet import ImageNet
from hornet_mm.datasets.synthetic import SHAPE_CLASSES, make_imagenet_style

CLASSES = tuple(SHAPE_CLASSES)
PIPELINE = [dict(type='hornet_mm.LoadImageFromFile'), dict(type='PackInputs')]


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic_imagenet')
    counts = make_imagenet_style(
        str(root), num_train=3, num_val=2, progress=False)
    assert counts == {'train': 3 * 8, 'val': 2 * 8}
    return root


def _dataset(root, split='train', **kwargs):
    init_default_scope('mmpretrain')
    return ImageNet(
        data_root=str(root),
        split=split,
        pipeline=PIPELINE,
        metainfo=dict(classes=CLASSES),
        **kwargs)


def test_layout_and_files(data_root):
    assert (data_root / 'meta' /
            'classes.txt').read_text().split() == list(CLASSES)
    lines = (data_root / 'meta' / 'train.txt').read_text().splitlines()
    assert lines[0] == 'circle/circle_00000.JPEG 0'
    assert lines[-1] == 'dots/dots_00002.JPEG 7'
    for line in lines:
        path, label = line.rsplit(' ', 1)
        img = cv2.imread(str(data_root / 'train' / path))
        assert img is not None and img.ndim == 3
        assert 56 <= img.shape[0] < 120 and 56 <= img.shape[1] < 120
        assert path.split('/')[0] == CLASSES[int(label)]


def test_generation_is_seeded(tmp_path, data_root):
    make_imagenet_style(
        str(tmp_path / 'a'), num_train=3, num_val=2, progress=False)
    make_imagenet_style(
        str(tmp_path / 'b'), num_train=3, num_val=2, seed=1, progress=False)
    rel = osp.join('train', 'cross', 'cross_00001.JPEG')
    assert filecmp.cmp(tmp_path / 'a' / rel, data_root / rel, shallow=False)
    assert not filecmp.cmp(
        tmp_path / 'b' / rel, data_root / rel, shallow=False)
    with pytest.raises(ValueError, match='Unknown classes'):
        make_imagenet_style(str(tmp_path / 'c'), classes=['hexagon'])


def test_dataset_loads_generated_set(data_root):
    dataset = _dataset(data_root, 'val', test_mode=True)
    assert len(dataset) == 16
    sample = dataset[5]
    assert sample['data_samples'].gt_label.item() == 2
    assert sample['inputs'].shape[0] == 3


def _copy_set(src, dst):
    import shutil
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize('line,error,message', [
    ('circle/circle_00000.JPEG', ValueError, 'expected "<path> <label>"'),
    ('circle/missing.JPEG 0', FileNotFoundError, 'missing.JPEG'),
    ('circle/circle_00000.JPEG 8', ValueError, 'label 8 is outside'),
])
def test_bad_annotation_lines(tmp_path, data_root, line, error, message):
    root = _copy_set(data_root, tmp_path / 'set')
    ann = root / 'meta' / 'train.txt'
    ann.write_text(ann.read_text() + line + '\n')
    with pytest.raises(error, match=message) as err:
        _dataset(root)
    assert f'train.txt:{3 * 8 + 1}' in str(err.value)


def test_empty_annotation_file(tmp_path, data_root):
    root = _copy_set(data_root, tmp_path / 'set')
    (root / 'meta' / 'train.txt').write_text('\n')
    with pytest.raises(ValueError, match='Annotation file is empty'):
        _dataset(root)


@pytest.mark.parametrize('content', [b'', b'\xff\xd8\xff\xe0 not a jpeg'])
def test_corrupt_image_skipped_in_training_error_in_testing(
        tmp_path, data_root, content, monkeypatch):
    root = _copy_set(data_root, tmp_path / 'set')
    bad = root / 'train' / 'circle' / 'circle_00000.JPEG'
    bad.write_bytes(content)
    logged = []
    import hornet_mm.datasets.loading as module
    monkeypatch.setattr(module, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    train = _dataset(root)
    # mmengine draws the replacement at random (it may draw the bad sample
    # again); here it draws sample 1
    monkeypatch.setattr(train, '_rand_another', lambda: 1)
    sample = train[0]
    assert sample['inputs'].numel() > 0
    assert sample['data_samples'].img_path != str(bad)
    assert len(logged) == 1 and str(bad) in logged[0]
    assert 'empty or corrupt' in logged[0]

    test = _dataset(root, test_mode=True)
    with pytest.raises(ImageDecodeError, match='circle_00000.JPEG'):
        test[0]
