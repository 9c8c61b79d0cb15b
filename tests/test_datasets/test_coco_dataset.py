"""hornet_mm.CocoDataset on bad input, against mmdet's CocoDataset.

On a clean file both read the same samples; on bad files the checked dataset
fails with errors naming the file (where mmdet fails obscurely or late) or
drops the same annotations mmdet drops, saying which and why.
"""
import json
import shutil

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from hornet_mm.datasets import ImageDecodeError
from hornet_mm.datasets.synthetic import COCO_SHAPE_CLASSES, make_coco_style

CLASSES = tuple(COCO_SHAPE_CLASSES)
ANN = 'annotations/instances_train2017.json'
VAL = 'annotations/instances_val2017.json'
# EXIF tag 274 (0x0112): how the stored pixels are to be turned for display
ORIENTATION = 274


@pytest.fixture(scope='module')
def clean_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('coco_bad_input')
    make_coco_style(str(root), num_train=4, num_val=1, progress=False)
    return root


@pytest.fixture
def root(clean_root, tmp_path):
    return shutil.copytree(clean_root, tmp_path / 'coco')


def _build(cls,
           root,
           ann=ANN,
           classes=CLASSES,
           loader=None,
           loader_args=None,
           with_mask=False,
           **kwargs):
    init_default_scope('mmdet')
    return cls(
        data_root=str(root),
        ann_file=ann,
        data_prefix=dict(img=ann.split('_')[-1][:-len('.json')] + '/'),
        metainfo=dict(classes=classes),
        filter_cfg=dict(filter_empty_gt=True, min_size=1),
        pipeline=[
            dict(
                type=loader or 'hornet_mm.LoadImageFromFile',
                **(loader_args or {})),
            dict(type='LoadAnnotations', with_bbox=True, with_mask=with_mask),
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


def _load(root, name='instances_train2017.json'):
    return json.loads((root / 'annotations' / name).read_text())


def _tag(path, orientation):
    """Give a JPEG an EXIF orientation tag; its pixels stay as stored."""
    from PIL import Image
    with Image.open(path) as img:
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        img.save(path, exif=exif.tobytes(), quality=95)


def _assert_names(message, root, image_id, ann_id=None, ann=ANN):
    """An error names the annotation file, the image and the annotation."""
    assert message.startswith(str(root / ann)), message
    assert f'image {image_id}' in message, message
    if ann_id is not None:
        assert f'annotation {ann_id}' in message, message


@pytest.mark.parametrize('fault', ['exif-rotated', 'wrong-width'])
def test_image_of_another_size_than_the_file_says(root, fault):
    img = _load(root)['images'][1]
    path = root / 'train2017' / img['file_name']
    width, height = img['width'], img['height']
    if fault == 'exif-rotated':  # stored as the file says, shown turned
        _tag(path, 6)
        decoded, said = f'{height} x {width}', f'{width} x {height}'
    else:
        _edit(root, lambda data: data['images'][1].update(width=width + 7))
        decoded, said = f'{width} x {height}', f'{width + 7} x {height}'
    for test_mode in (False, True):
        with pytest.raises(ValueError) as err:
            _checked(root, test_mode=test_mode)
        message = str(err.value)
        _assert_names(message, root, img['id'])
        assert f'{path} decodes to {decoded} pixels' in message
        assert f'the file says {said}' in message
        assert ('EXIF orientation 6' in message) == (fault == 'exif-rotated')
    if fault == 'exif-rotated':
        # mmdet trains on it: the boxes of a 303 x 244 image on 244 x 303
        # pixels
        sample = _mmdet(root, loader='LoadImageFromFile')[1]
        assert tuple(sample['inputs'].shape[1:]) == (width, height)


def test_image_size_checked_where_it_is_loaded(clean_root, root, warnings):
    import cv2
    img = _load(root)['images'][2]
    path = root / 'train2017' / img['file_name']
    for test_mode in (False, True):
        dataset = _checked(root, test_mode=test_mode)
        # replaced after start-up (or read from remote storage, which the
        # start-up check does not read)
        cv2.imwrite(str(path), cv2.resize(cv2.imread(str(path)), (50, 40)))
        with pytest.raises(ValueError) as err:
            dataset[2]
        message = str(err.value)
        _assert_names(message, root, img['id'])
        assert (f'{path} decodes to 50 x 40 pixels, the file says '
                f'{img["width"]} x {img["height"]}') in message
        assert not warnings  # an error in training too, not a skip
        shutil.copy(clean_root / 'train2017' / img['file_name'], path)


def test_exif_orientation_is_applied_as_mmcv_applies_it(root, warnings):
    import cv2
    from PIL import Image
    images = _load(root)['images']
    turned, flipped = images[1], images[2]
    path = root / 'train2017' / turned['file_name']
    shown = cv2.imread(str(path))
    # as a camera stores a portrait photo: the bitmap on its side, and a tag
    # to turn it back (6: 90 degrees clockwise)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    Image.fromarray(
        cv2.rotate(shown[..., ::-1], cv2.ROTATE_90_COUNTERCLOCKWISE)).save(
            path, exif=exif.tobytes(), quality=95)
    sample = _checked(root)[1]
    loaded = sample['inputs'].permute(1, 2, 0).numpy()
    assert loaded.shape == shown.shape
    assert np.abs(loaded.astype(float) - shown).mean() < 5
    assert not warnings
    # annotations drawn on the stored pixels: a loader that ignores the tag
    _edit(
        root, lambda data: data['images'][1].update(
            width=turned['height'], height=turned['width']))
    sample = _checked(
        root, loader_args=dict(color_type='color_ignore_orientation'))[1]
    assert tuple(sample['inputs'].shape[1:]) == shown.shape[1::-1]
    # (boxes drawn on the turned image now leave it: reported as such)
    assert all('left out' in message for message in warnings)
    # a tag that turns the image without changing its size: said, and used
    _tag(root / 'train2017' / flipped['file_name'], 3)
    with pytest.raises(ValueError, match='EXIF orientation 6'):
        _checked(root)  # the file gives the stored size of image 2
    warnings.clear()
    _edit(
        root, lambda data: data['images'][1].update(
            width=turned['width'], height=turned['height']))
    sample = _checked(root)[2]
    assert len(warnings) == 1
    message = warnings[0]
    assert message.startswith(str(root / ANN))
    assert ('1 image with an EXIF orientation tag that turns it without '
            f'changing its size (image {flipped["id"]}: EXIF orientation 3)'
            ) in message
    assert 'the loader applies it' in message


def test_duplicate_image_ids(root):
    data = _edit(root,
                 lambda data: [data['images'][i].update(id=2) for i in (2, 3)])
    with pytest.raises(ValueError) as err:
        _checked(root)
    message = str(err.value)
    assert message.startswith(str(root / ANN))
    names = ', '.join(data['images'][i]['file_name'] for i in (1, 2, 3))
    assert f'image ids are not unique: image 2 (3 times: {names})' in message
    # mmdet pairs the last image of that id with the annotations of the
    # first; those of the others are lost
    mmdet_set = _mmdet(root)
    assert len(mmdet_set) == 2
    info = mmdet_set.get_data_info(1)
    assert info['img_path'].endswith(data['images'][3]['file_name'])
    assert len(info['instances']) == sum(a['image_id'] == 2
                                         for a in data['annotations'])


_H, _W = 296, 262  # image 1 of the generated training file


@pytest.mark.parametrize('segmentation,reason', [
    (dict(size=[_H, _W], counts=[10, 5, 20]),
     f'its counts sum to 35, not height x width = {_H} x {_W}'),
    (dict(size=[_H, _W + 1], counts=[_H * (_W + 1)]),
     f"its size [{_H}, {_W + 1}] (height, width) is not the image's "
     f'[{_H}, {_W}]'),
    (dict(size=[_H, _W], counts=[-10, _H * _W + 10]),
     'its counts are not all non-negative integers'),
    (dict(counts=[_H * _W]), 'its size None is not [height, width]'),
    (dict(size=[_H, _W], counts=None), 'its counts are a NoneType'),
    ('cut-short', 'its counts sum to'),
])
def test_malformed_rle(root, segmentation, reason):
    data = _load(root)
    ann = data['annotations'][0]
    assert ann['image_id'] == 1 and isinstance(ann['segmentation']['counts'],
                                               str)
    if segmentation == 'cut-short':
        counts = ann['segmentation']['counts']
        segmentation = dict(
            ann['segmentation'], counts=counts[:len(counts) // 2])
    _edit(
        root, lambda data: data['annotations'][0].update(
            segmentation=segmentation, iscrowd=1))
    for test_mode in (False, True):
        with pytest.raises(ValueError) as err:
            _checked(root, test_mode=test_mode)
        message = str(err.value)
        _assert_names(message, root, 1, ann['id'])
        assert 'malformed RLE segmentation' in message
        assert reason in message


def _short_polygons(data):
    anns = [a for a in data['annotations'] if a['image_id'] == 2]
    x, y = anns[0]['segmentation'][0][:2]
    anns[0]['segmentation'] = [[x, y]]  # a single point: no part left
    anns[1]['segmentation'].append([x, y, x + 5, y])  # a second, 2-point part
    return anns[0]['id'], anns[1]['id']


def test_short_polygons_warned_and_left_out_as_mmdet_does(root, warnings):
    none_left, one_left = _short_polygons(_load(root))
    _edit(root, _short_polygons)
    ours = _checked(root, with_mask=True)
    assert len(warnings) == 1
    message = warnings[0]
    assert message.startswith(str(root / ANN))
    assert ('2 annotations with polygon parts of fewer than 3 points or an '
            'odd number of coordinates, which mmdet leaves out: 1 with no '
            f'part left, ignored with its box (annotation {none_left} of '
            f'image 2); 1 keeping its other parts (annotation {one_left} of '
            'image 2)') in message
    theirs = _mmdet(root, with_mask=True)
    a, b = (dataset[1]['data_samples'] for dataset in (ours, theirs))
    assert len(a.ignored_instances) == len(b.ignored_instances) == 1
    assert torch.equal(a.gt_instances.bboxes.tensor,
                       b.gt_instances.bboxes.tensor)
    assert np.array_equal(a.gt_instances.masks.masks,
                          b.gt_instances.masks.masks)


def _evaluate(root, coco_json):
    """COCO metrics of a perfect prediction: the file's own masks."""
    from mmdet.evaluation import CocoMetric
    from pycocotools.coco import COCO
    coco = COCO(str(coco_json))
    metric = CocoMetric(ann_file=str(coco_json), metric=['bbox', 'segm'])
    metric.dataset_meta = dict(classes=CLASSES)
    for img_id, img in coco.imgs.items():
        anns = [
            a for a in coco.imgToAnns[img_id]
            if not a['iscrowd'] and a['segmentation']
        ]
        x, y, w, h = torch.tensor([a['bbox'] for a in anns]).unbind(1)
        masks = np.stack([coco.annToMask(a) for a in anns]).astype(bool)
        metric.process({}, [
            dict(
                img_id=img_id,
                ori_shape=(img['height'], img['width']),
                pred_instances=dict(
                    bboxes=torch.stack([x, y, x + w, y + h], 1),
                    scores=torch.ones(len(anns)),
                    labels=torch.tensor([a['category_id'] - 1 for a in anns]),
                    masks=torch.from_numpy(masks)))
        ])
    return metric.evaluate(len(coco.imgs))


def test_short_polygon_in_the_val_file(root, warnings):
    path = root / VAL
    ann = _load(root, 'instances_val2017.json')['annotations'][1]
    assert isinstance(ann['segmentation'], list)
    part = ann['segmentation'][0]
    # a single point: pycocotools cannot evaluate it, after the inference
    _edit(root,
          lambda data: data['annotations'][1].update(segmentation=[part[:2]]),
          'instances_val2017.json')
    with pytest.raises(ValueError) as err:
        _checked(root, ann=VAL, test_mode=True)
    message = str(err.value)
    _assert_names(message, root, ann['image_id'], ann['id'], ann=VAL)
    assert 'segm evaluation (pycocotools) would fail on it' in message
    with pytest.raises(Exception, match='input type is not supported'):
        _evaluate(root, path)
    # a 1-point part after a good one: evaluated; said, not an error
    _edit(
        root, lambda data: data['annotations'][1].update(
            segmentation=[part, part[:2]]), 'instances_val2017.json')
    _checked(root, ann=VAL, test_mode=True)
    assert len(warnings) == 1
    assert warnings[0].startswith(str(path))
    assert (f'1 keeping its other parts (annotation {ann["id"]} of image '
            f'{ann["image_id"]})') in warnings[0]
    results = _evaluate(root, path)
    assert results['coco/segm_mAP'] == results['coco/bbox_mAP'] == 1.0
