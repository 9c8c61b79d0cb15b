"""hornet_mm.CocoDataset on bad input, against mmdet's CocoDataset.

On a clean file both read the same samples; on bad files the checked dataset
fails with errors naming the file (where mmdet fails obscurely or late) or
drops the same annotations mmdet drops, saying which and why.
"""
import json
import shutil

import pytest
from mmengine.registry import init_default_scope

from hornet_mm.datasets import ImageDecodeError
from hornet_mm.datasets.synthetic import COCO_SHAPE_CLASSES, make_coco_style

CLASSES = tuple(COCO_SHAPE_CLASSES)
ANN = 'annotations/instances_train2017.json'


@pytest.fixture(scope='module')
def clean_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('coco_bad_input')
    make_coco_style(str(root), num_train=4, num_val=1, progress=False)
    return root


@pytest.fixture
def root(clean_root, tmp_path):
    return shutil.copytree(clean_root, tmp_path / 'coco')


def _build(cls, root, ann=ANN, classes=CLASSES, loader=None, **kwargs):
    init_default_scope('mmdet')
    return cls(
        data_root=str(root),
        ann_file=ann,
        data_prefix=dict(img='train2017/'),
        metainfo=dict(classes=classes),
        filter_cfg=dict(filter_empty_gt=True, min_size=1),
        pipeline=[
            dict(type=loader or 'hornet_mm.LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='PackDetInputs')
        ],
        **kwargs)


def _checked(root, **kwargs):
    from hornet_mm.datasets.coco import CocoDataset
    return _build(CocoDataset, root, **kwargs)


def _mmdet(root, **kwargs):
    from mmdet.datasets import CocoDataset
    return _build(CocoDataset, root, **kwargs)


def _infos(dataset):
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def _edit(root, change, name='instances_train2017.json'):
    path = root / 'annotations' / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return data


@pytest.fixture
def warnings(monkeypatch):
    import hornet_mm.datasets.coco as coco
    import hornet_mm.datasets.loading as loading  # the skip of bad images
    logged = []
    for module in (coco, loading):
        monkeypatch.setattr(module, 'print_log',
                            lambda msg, **kwargs: logged.append(msg))
    return logged


def test_registered_and_same_samples_as_mmdet(clean_root, warnings):
    from mmdet.registry import DATASETS
    init_default_scope('mmdet')
    assert DATASETS.get('hornet_mm.CocoDataset').__module__ == \
        'hornet_mm.datasets.coco'
    assert _infos(_checked(clean_root)) == _infos(_mmdet(clean_root))
    assert not warnings


@pytest.mark.parametrize('content,error,message', [
    (None, FileNotFoundError, 'Annotation file not found'),
    ('', ValueError, 'is not a COCO annotation file'),
    ('{"images": [', ValueError, 'is not a COCO annotation file'),
])
def test_unreadable_annotation_file(root, content, error, message):
    path = root / 'annotations' / 'instances_train2017.json'
    if content is None:
        path.unlink()
    else:
        path.write_text(content)
    with pytest.raises(error, match=message) as err:
        _checked(root)
    assert str(path) in str(err.value)


def test_annotation_file_without_images(root):
    _edit(root, lambda data: data.update(images=[], annotations=[]))
    with pytest.raises(
            ValueError, match='instances_train2017.json lists no '
            'images'):
        _checked(root)
    # what mmdet says instead
    with pytest.raises(ValueError, match='at least one array'):
        _mmdet(root)


def test_dropped_annotations_are_reported_as_mmdet_drops_them(root, warnings):

    def spoil(data):
        anns = data['annotations']
        anns[0]['bbox'] = [5000.0, 5000.0, 20.0, 20.0]  # outside the image
        anns[1]['bbox'][3] = 0.5  # less than a pixel high
        anns[2]['area'] = 0
        anns[3]['category_id'] = 99  # no such category in the file

    data = _edit(root, spoil)
    anns = data['annotations']
    # the last class left out of the config: its annotations are dropped
    classes = CLASSES[:-1]
    last_id = len(CLASSES)
    of_last = [a['id'] for a in anns[4:] if a['category_id'] == last_id]
    assert of_last, 'the generated set has objects of every class'

    ours = _checked(root, classes=classes)
    assert _infos(ours) == _infos(_mmdet(root, classes=classes))
    assert len(warnings) == 1
    message = warnings[0]
    assert message.startswith(str(root / ANN))
    assert f'{4 + len(of_last)} annotations are left out' in message
    assert ('1 with a box with no overlap with its image (annotation ids '
            f'{anns[0]["id"]})') in message
    assert ('2 with a box of less than a pixel or zero area (annotation ids '
            f'{anns[1]["id"]}, {anns[2]["id"]})') in message
    assert ('1 with category id 99, not among the file\'s categories '
            f'(annotation ids {anns[3]["id"]})') in message
    assert (f"{len(of_last)} with category '{CLASSES[-1]}' (id {last_id}), "
            "not among the config's classes") in message


def test_classes_missing_from_the_file_or_in_another_order(root):
    with pytest.raises(
            ValueError, match=r"classes \['hexagon'\] are not "
            'among the file'):
        _checked(root, classes=(*CLASSES, 'hexagon'))
    with pytest.raises(ValueError, match='in the order') as err:
        _checked(root, classes=CLASSES[::-1])
    assert str(root / ANN) in str(err.value)
    # mmdet takes both: with the reversed list, label 0 is the file's first
    # class while the config calls it the last one
    reverse = _mmdet(root, classes=CLASSES[::-1])
    first = reverse.get_data_info(0)['instances'][0]
    label_name = CLASSES[::-1][first['bbox_label']]
    data = json.loads((root / ANN).read_text())
    first_ann = next(a for a in data['annotations']
                     if a['image_id'] == 1 and not a['iscrowd'])
    assert label_name != CLASSES[first_ann['category_id'] - 1]


def test_nothing_left_to_train_on(root):
    data = _edit(
        root, lambda data:
        [ann.update(category_id=len(CLASSES)) for ann in data['annotations']])
    assert data['annotations']
    with pytest.raises(
            ValueError, match='none of its 4 images has an '
            'annotation left'):
        _checked(root, classes=CLASSES[:-1])


def test_missing_image_at_start_up(root):
    data = _edit(root,
                 lambda data: data['images'][2].update(file_name='gone.jpg'))
    with pytest.raises(FileNotFoundError) as err:
        _checked(root)
    assert str(root / ANN) in str(err.value)
    assert f'image {data["images"][2]["id"]} not found' in str(err.value)
    assert str(root / 'train2017' / 'gone.jpg') in str(err.value)
    # mmdet builds and fails when the sample is drawn
    mmdet_set = _mmdet(root)
    with pytest.raises(FileNotFoundError, match='gone.jpg'):
        mmdet_set[2]


def test_corrupt_image_skipped_in_training_error_in_testing(root, warnings):
    data = json.loads((root / ANN).read_text())
    bad = root / 'train2017' / data['images'][0]['file_name']
    bad.write_bytes(b'\xff\xd8\xff\xe0 not a jpeg')
    train = _checked(root)
    sample = train[0]  # another sample is drawn
    assert sample['data_samples'].img_path != str(bad)
    # (the bad sample may be drawn again before a good one)
    assert warnings and all(str(bad) in msg for msg in warnings)

    test = _checked(root, test_mode=True)
    with pytest.raises(ImageDecodeError, match=data['images'][0]['file_name']):
        test[0]
    # mmcv's loader: an assertion naming the file, in training too
    with pytest.raises(AssertionError, match='failed to load image'):
        _checked(root, loader='LoadImageFromFile')[0]
