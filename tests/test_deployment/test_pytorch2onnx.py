"""ONNX export (tools/deployment/pytorch2onnx.py) checked in ONNX Runtime
against the libraries' own inference paths: mmpretrain's ``predict``
scores, mmseg's ``encode_decode`` logits, mmdet's ``predict`` detections."""
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch

from helpers import load_tool, random_checkpoint, repo_path
from hornet_mm.deployment import (OnnxTwoStageDetector, OrtModel,
                                  load_export_model, preprocess_image)

NANO_CLS = repo_path('configs/hornet/hornet-nano_1xb32_synthetic-in8.py')
NANO_SEG = repo_path('configs/segmentation/'
                     'hornet-nano_upernet_1xb8-2k_synthetic-ade-128x128.py')
NANO_GNUPER = repo_path(
    'configs/segmentation/'
    'hornet-nano_gnuper-gf_1xb8-2k_synthetic-ade-128x128.py')
NANO_DET = repo_path(
    'configs/detection/mask-rcnn_hornet-nano_fpn_1xb4-12e_synthetic-coco.py')
NANO_M2F = repo_path('projects/hornet_mask2former/configs/'
                     'mask2former_hornet-nano_1xb4-2k_synthetic-coco.py')
#: Config lines that give a nano model 7x7 mixers in every stage.
DW_EVERYWHERE = ('model = dict(backbone=dict(arch=dict(dw_cfg=[\n'
                 '    dict(type="DW", kernel_size=7)] * 4)))\n')


@pytest.fixture(scope='module')
def tool():
    return load_tool('tools/deployment/pytorch2onnx.py')


@pytest.fixture(scope='module')
def cls7_config(tmp_path_factory):
    """The nano classifier with 7x7 mixers in every stage (no GF)."""
    path = tmp_path_factory.mktemp('cfg') / 'hornet-nano-7x7.py'
    path.write_text(f'_base_ = [{NANO_CLS!r}]\n' + DW_EVERYWHERE)
    return str(path)


def export(tool, config, checkpoint, out, *options):
    code = tool.main([config, checkpoint, str(out), *map(str, options)])
    return code


def picture(model, shape, batch=1, seed=0):
    from hornet_mm.datasets.synthetic.painting import draw_shapes
    img = draw_shapes(np.random.default_rng(seed))[0]
    return preprocess_image(model, img, shape, batch)


def test_7x7_classifier_matches_mmpretrain_predict(tool, cls7_config, tmp_path,
                                                   capsys):
    ckpt = random_checkpoint(cls7_config, tmp_path / 'cls7.pth')
    out = tmp_path / 'cls7.onnx'
    assert export(tool, cls7_config, ckpt, out, '--shape', 64, 64,
                  '--dynamic-batch', '--dynamic-shape', '--verify') == 0
    printed = capsys.readouterr().out
    summary = json.loads(printed.strip().splitlines()[-1])
    assert summary['task'] == 'classifier'
    assert set(summary['verify']) == {
        'random', 'image', 'random batch 2', 'random 96x96'
    }
    assert all(v['max_abs'] <= 1e-4 for v in summary['verify'].values())

    model, _ = load_export_model(cls7_config, ckpt)
    ort_model = OrtModel(str(out))
    # free batch and size: 3 pictures at 96 x 128
    inputs = torch.cat([picture(model, (96, 128), seed=s) for s in range(3)])
    scores, = ort_model(inputs)
    with torch.no_grad():
        samples = model(inputs, mode='predict')
    want = torch.stack([s.pred_score for s in samples]).numpy()
    assert scores.shape == (3, 8)
    assert np.abs(scores - want).max() < 1e-4
    assert np.allclose(scores.sum(1), 1, atol=1e-5)
    assert (scores.argmax(1) == want.argmax(1)).all()


@pytest.mark.parametrize('shape', [(64, 64), (96, 64)])
def test_gf_classifier_matches_mmpretrain_predict(tool, tmp_path, shape):
    """The nano classifier (global filters of 4x3 / 2x2 for 64 x 64) at its
    size and at another one, where the filters are resized."""
    ckpt = random_checkpoint(NANO_CLS, tmp_path / 'gf.pth')
    out = tmp_path / 'gf.onnx'
    assert export(tool, NANO_CLS, ckpt, out, '--shape', *shape, '--batch-size',
                  2, '--verify') == 0
    model, _ = load_export_model(NANO_CLS, ckpt)
    inputs = torch.cat([picture(model, shape, seed=s) for s in range(2)])
    scores, = OrtModel(str(out))(inputs)
    with torch.no_grad():
        samples = model(inputs, mode='predict')
    want = torch.stack([s.pred_score for s in samples]).numpy()
    assert np.abs(scores - want).max() < 1e-4
    # log-probabilities: the logits up to a constant per image
    assert np.abs(np.log(scores) - np.log(want)).max() < 1e-3


@pytest.mark.parametrize(
    'config', [NANO_SEG, NANO_GNUPER], ids=['upernet', 'gnuper-gf'])
def test_segmentor_matches_mmseg_encode_decode(tool, tmp_path, config):
    ckpt = random_checkpoint(config, tmp_path / 'seg.pth')
    logits_file, argmax_file = tmp_path / 'l.onnx', tmp_path / 'a.onnx'
    assert export(tool, config, ckpt, logits_file, '--verify') == 0
    assert export(tool, config, ckpt, argmax_file, '--seg-output', 'argmax',
                  '--verify') == 0
    model, _ = load_export_model(config, ckpt)
    inputs = picture(model, (128, 128))
    metas = [
        dict(img_shape=(128, 128), ori_shape=(128, 128), pad_shape=(128, 128))
    ]
    with torch.no_grad():
        want = model.encode_decode(inputs, metas).numpy()
    logits, = OrtModel(str(logits_file))(inputs)
    labels, = OrtModel(str(argmax_file))(inputs)
    assert logits.shape == want.shape == (1, model.decode_head.num_classes,
                                          128, 128)
    assert np.abs(logits - want).max() < 1e-4 * max(1, np.abs(want).max())
    assert labels.shape == (1, 128, 128)
    assert (labels == want.argmax(1)).mean() > 0.999


def test_detector_graph_finished_in_pytorch_matches_mmdet(tool, tmp_path):
    """Backbone + gnConv-free FPN + RPN in ONNX Runtime, proposals and RoI
    heads in PyTorch: the detections of mmdet's own predict."""
    from mmdet.structures import DetDataSample
    ckpt = random_checkpoint(NANO_DET, tmp_path / 'det.pth')
    out = tmp_path / 'det.onnx'
    assert export(tool, NANO_DET, ckpt, out, '--shape', 256, 384,
                  '--verify') == 0
    model, _ = load_export_model(NANO_DET, ckpt)
    model.test_cfg.rcnn.score_thr = 0.0  # random weights: keep boxes
    inputs = picture(model, (256, 384))
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(256, 384),
            ori_shape=(256, 384),
            pad_shape=(256, 384),
            scale_factor=(1.0, 1.0),
            batch_input_shape=(256, 384)))
    ort_model = OrtModel(str(out))
    outs = ort_model(inputs)
    with torch.no_grad():
        feats = model.extract_feat(inputs)
        want = model.predict(inputs, [sample.clone()])[0].pred_instances
    assert len(outs) == 15  # 5 levels x (features, scores, deltas)
    for got, ref in zip(outs[:5], feats):
        assert np.abs(got -
                      ref.numpy()).max() < 1e-4 * max(1,
                                                      ref.abs().max().item())
    got = OnnxTwoStageDetector(str(out), model).predict(
        inputs, [sample.clone()])[0].pred_instances
    assert len(want) > 10 and len(got) == len(want)
    top = min(len(want), 20)
    assert torch.allclose(got.scores[:top], want.scores[:top], atol=1e-4)
    assert torch.allclose(got.bboxes[:top], want.bboxes[:top], atol=1e-2)
    assert torch.equal(got.labels[:top], want.labels[:top])
    assert got.masks.shape == want.masks.shape


# ---------------------------------------------------------------- bad input


@pytest.fixture(scope='module')
def gf_ckpt(tmp_path_factory):
    return random_checkpoint(NANO_CLS,
                             tmp_path_factory.mktemp('ckpt') / 'gf.pth')


def _broken_checkpoint(path, kind, good):
    state = torch.load(good)['state_dict']
    if kind == 'prefixed':
        state = {'model.' + k: v for k, v in state.items()}
    elif kind == 'nan':
        key = next(k for k in state if k.endswith('complex_weight'))
        state[key] = state[key].clone()
        state[key][0, 0, 0, 0] = float('nan')
    torch.save({'state_dict': state}, path)
    return str(path)


@pytest.mark.parametrize(
    'case, options, message',
    [('shape', ['--shape', 100, 100], 'not divisible by 32'),
     ('dynamic-gf', ['--shape', 64, 64, '--dynamic-shape'
                     ], 'one input size only.*--shape 64 64'),
     ('missing', [], 'Checkpoint file not found'),
     ('dynamic-seg', ['--dynamic-shape'],
      'segmentor exports for one input size only.*--shape 128 128'),
     ('prefixed', [], 'does not fit the model.*missing'),
     ('nan', [], 'non-finite values.*complex_weight'),
     ('tolerance', ['--shape', 64, 64, '--verify', '--tolerance', 1e-12
                    ], 'differs from PyTorch by'),
     ('suffix', [], 'must end in .onnx'),
     ('unsupported', [], 'Cannot export a Mask2Former')])
def test_bad_input_is_named_and_nothing_is_written(tool, tmp_path, gf_ckpt,
                                                   capsys, case, options,
                                                   message):
    config, ckpt = NANO_CLS, gf_ckpt
    out = tmp_path / ('model.txt' if case == 'suffix' else 'model.onnx')
    if case == 'missing':
        ckpt = str(tmp_path / 'absent.pth')
    elif case in ('prefixed', 'nan'):
        ckpt = _broken_checkpoint(tmp_path / f'{case}.pth', case, gf_ckpt)
    elif case == 'unsupported':
        config = NANO_M2F
    elif case == 'dynamic-seg':  # a segmentor without global filters
        config = str(tmp_path / 'upernet-7x7.py')
        with open(config, 'w') as f:
            f.write(f'_base_ = [{NANO_SEG!r}]\n' + DW_EVERYWHERE)
        ckpt = random_checkpoint(config, tmp_path / 'seg.pth')
    out.write_text('previous content')
    assert export(tool, config, ckpt, out, *options) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith('error: export failed:')
    assert re.search(message, err), err
    # the file that was there is untouched, no temporary file is left
    assert out.read_text() == 'previous content'
    assert [p for p in os.listdir(tmp_path) if p.startswith('.')] == []


def test_failed_verification_leaves_no_file(tool, tmp_path, gf_ckpt):
    out = tmp_path / 'new.onnx'
    assert export(tool, NANO_CLS, gf_ckpt, out, '--shape', 64, 64, '--verify',
                  '--tolerance', 1e-12) == 1
    assert not osp.exists(out) and os.listdir(tmp_path) == []
