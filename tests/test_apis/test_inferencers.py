"""The libraries' own inference APIs on hornet_mm configs and checkpoints
trained here: mmpretrain's ImageClassificationInferencer, mmdet's
DetInferencer and inference_detector, mmseg's MMSegInferencer and
inference_model, each equal to tools/test.py's predictions for the same
images."""
import glob
import os.path as osp
import sys

import mmengine
import numpy as np
import pytest
import torch

from helpers import load_tool, loader_options, repo_path, run_ok
from hornet_mm.apis import classify_images, detect_images
from hornet_mm.datasets.synthetic import (make_ade_style, make_coco_style,
                                          make_imagenet_style)

CLS = repo_path('configs/hornet/hornet-nano_1xb32_synthetic-in8.py')
DET = repo_path(
    'configs/detection/mask-rcnn_hornet-nano_fpn_1xb4-12e_synthetic-coco.py')
SEG = repo_path('configs/segmentation/'
                'hornet-nano_upernet_1xb8-2k_synthetic-ade-128x128.py')


def _train_and_test(tmp, config, options, schedule):
    """A checkpoint trained by tools/train.py and tools/test.py's dump of
    its predictions on the val set."""
    run_ok(sys.executable, repo_path('tools/train.py'), config, '--work-dir',
           tmp / 'train', '--cfg-options', *options, *schedule)
    ckpt = (tmp / 'train' / 'last_checkpoint').read_text().strip()
    out = tmp / 'results.pkl'
    assert load_tool('tools/test.py').main([
        config, ckpt, '--work-dir',
        str(tmp / 'test'), '--out',
        str(out), '--cfg-options', *options
    ]) == 0
    return ckpt, {osp.basename(r['img_path']): r for r in mmengine.load(out)}


def _loaders(root, evaluator_ann=None):
    options = loader_options(root)
    if evaluator_ann:
        options += [
            f'val_evaluator.ann_file={evaluator_ann}',
            f'test_evaluator.ann_file={evaluator_ann}'
        ]
    return options


@pytest.fixture(scope='module')
def cls_case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('cls')
    make_imagenet_style(
        str(tmp / 'data'), num_train=1, num_val=1, progress=False)
    ckpt, results = _train_and_test(
        tmp, CLS, _loaders(tmp / 'data'),
        ['train_dataloader.batch_size=8', 'train_cfg.max_epochs=1'])
    return tmp, ckpt, results


@pytest.fixture(scope='module')
def det_case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('det')
    make_coco_style(str(tmp / 'data'), num_train=4, num_val=3, progress=False)
    root = f'{tmp / "data"}/'
    options = _loaders(root, root + 'annotations/instances_val2017.json')
    # one image per test batch: a batch pads its images to one size, which
    # changes a detector's outputs, and the inferencers take one at a time
    ckpt, results = _train_and_test(
        tmp, DET, options +
        ['model.test_cfg.rcnn.score_thr=0.0', 'test_dataloader.batch_size=1'],
        [
            'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
            'param_scheduler.1.end=1'
        ])
    return tmp, ckpt, results


@pytest.fixture(scope='module')
def seg_case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('seg')
    make_ade_style(str(tmp / 'data'), num_train=4, num_val=2)
    ckpt, results = _train_and_test(tmp, SEG, _loaders(tmp / 'data'), [
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'train_dataloader.batch_size=2'
    ])
    return tmp, ckpt, results


def test_image_classification_inferencer(cls_case):
    from mmpretrain.apis import ImageClassificationInferencer
    tmp, ckpt, results = cls_case
    images = sorted(glob.glob(str(tmp / 'data' / 'val' / '*' / '*.JPEG')))
    inferencer = ImageClassificationInferencer(model=CLS, pretrained=ckpt)
    # the class names come from the checkpoint trained on the generated set
    assert inferencer.classes[:2] == ('circle', 'square')
    for image, pred in zip(images, inferencer(images)):
        want = results[osp.basename(image)]['pred_score'].numpy()
        assert np.abs(pred['pred_scores'] - want).max() < 1e-5
        assert pred['pred_class'] == inferencer.classes[int(want.argmax())]
    # hornet_mm's API on a directory of pictures
    folder = osp.dirname(images[0])
    (result, ) = classify_images([folder], CLS, ckpt, topk=3)
    assert result['image'] == images[0]
    assert result['topk'][0][1] == inferencer.classes[int(results[osp.basename(
        images[0])]['pred_score'].argmax())]


def test_det_inferencer_and_inference_detector(det_case, tmp_path):
    from mmdet.apis import DetInferencer, inference_detector, init_detector
    tmp, ckpt, results = det_case
    images = sorted(glob.glob(str(tmp / 'data' / 'val2017' / '*.jpg')))
    # (no progress bar: mmpretrain's inferencer above leaves its rich live
    # display open in this process)
    inferencer = DetInferencer(
        model=DET, weights=ckpt, device='cpu', show_progress=False)
    assert inferencer.model.dataset_meta['classes'][0] == 'circle'
    inferencer.model.test_cfg.rcnn.score_thr = 0.0
    out = inferencer(images, no_save_vis=True, return_datasamples=True)
    model = init_detector(DET, ckpt, device='cpu')
    model.test_cfg.rcnn.score_thr = 0.0
    for image, pred in zip(images, out['predictions']):
        want = results[osp.basename(image)]['pred_instances']
        got = pred.pred_instances
        assert len(got) == len(want['scores']) > 0
        assert torch.allclose(got.scores, want['scores'], atol=1e-4)
        assert torch.allclose(got.bboxes, want['bboxes'], atol=1e-2)
        direct = inference_detector(model, image).pred_instances
        assert torch.allclose(direct.scores, want['scores'], atol=1e-4)
    # hornet_mm's API on a directory
    drawn = detect_images([osp.dirname(images[0])],
                          DET,
                          ckpt,
                          str(tmp_path),
                          score_thr=0.0)
    assert [d['image'] for d in drawn] == images


def test_mmseg_inferencer_and_inference_model(seg_case):
    from mmseg.apis import MMSegInferencer, inference_model, init_model
    tmp, ckpt, results = seg_case
    images = sorted(
        glob.glob(str(tmp / 'data' / 'images' / 'validation' / '*.jpg')))
    assert images
    inferencer = MMSegInferencer(model=SEG, weights=ckpt, device='cpu')
    inferencer.show_progress = False  # see test_det_inferencer_...
    model = init_model(SEG, ckpt, device='cpu')
    for image in images:
        want = results[osp.basename(image)]['pred_sem_seg']['data'][0]
        pred = inferencer(image)['predictions']
        assert pred.shape == tuple(want.shape)
        assert (pred == want.numpy()).mean() > 0.999
        direct = inference_model(model, image).pred_sem_seg.data[0]
        assert (direct == want).float().mean() > 0.999


def test_directory_without_images(tmp_path, cls_case):
    _, ckpt, _ = cls_case
    (tmp_path / 'notes.txt').write_text('no pictures here')
    with pytest.raises(
            ValueError, match=f'Image directory {tmp_path} holds no images'):
        classify_images([str(tmp_path)], CLS, ckpt)
    with pytest.raises(ValueError, match='holds no images'):
        detect_images([str(tmp_path)], DET, None, str(tmp_path / 'out'))
