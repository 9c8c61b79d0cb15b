"""hornet_mm.analysis.split on a stand-in detector whose parts take known
times (forward and backward sleep for set durations), and the benchmark
tool's ``--split`` on the small Mask R-CNN config."""
import os.path as osp
import re
import time

import pytest
import torch
import torch.nn as nn

from helpers import REPO, load_tool
from hornet_mm.analysis.split import (INFER_PARTS, TRAIN_PARTS, format_split,
                                      time_detector_step)

# seconds: (forward, backward) of each part
BACKBONE = (0.03, 0.12)
NECK = (0.02, 0.06)
RPN = (0.04, 0.03)
ROI = (0.05, 0.07)
PREPROCESS = 0.02
OPTIMIZER = 0.03
TOLERANCE = 0.02  # a sleep overshoots by scheduling delays only
NANO_DET = osp.join(REPO, 'configs', 'detection',
                    'mask-rcnn_hornet-nano_fpn_1xb4-12e_synthetic-coco.py')


class _Sleep(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x, forward_s, backward_s):
        time.sleep(forward_s)
        ctx.backward_s = backward_s
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        time.sleep(ctx.backward_s)
        return grad, None, None


class _Part(nn.Module):

    def __init__(self, times, outputs=1):
        super().__init__()
        self.times = times
        self.outputs = outputs
        self.weight = nn.Parameter(torch.ones(()))

    def forward(self, x):
        x = x[0] if isinstance(x, tuple) else x
        y = _Sleep.apply(x * self.weight, *self.times)
        return tuple(y * (i + 1) for i in range(self.outputs))


class _Head(nn.Module):

    def __init__(self, times):
        super().__init__()
        self.part = _Part(times)

    def _run(self, feats):
        (y, ) = self.part(feats[0] + feats[1])
        return y.mean()

    def loss_and_predict(self, feats, samples, proposal_cfg=None):
        return dict(loss_rpn=self._run(feats)), ['proposals']

    def loss(self, feats, proposals, samples):
        return dict(loss_roi=self._run(feats))

    def predict(self, feats, *args, **kwargs):
        return self._run(feats)


class _Preprocessor(nn.Module):

    def forward(self, batch, training=False):
        time.sleep(PREPROCESS)
        return dict(inputs=batch['inputs'], data_samples=None)


class _Detector(nn.Module):
    """The calls of mmdet's TwoStageDetector, parts of known duration."""

    def __init__(self):
        super().__init__()
        self.data_preprocessor = _Preprocessor()
        self.backbone = _Part(BACKBONE, outputs=2)
        self.neck = _Part(NECK, outputs=2)
        self.rpn_head = _Head(RPN)
        self.roi_head = _Head(ROI)

    def forward(self, inputs, data_samples, mode):
        feats = self.neck(self.backbone(inputs))
        if mode == 'predict':
            return self.roi_head.predict(feats, self.rpn_head.predict(feats))
        losses, proposals = self.rpn_head.loss_and_predict(feats, data_samples)
        losses.update(self.roi_head.loss(feats, proposals, data_samples))
        return losses

    def parse_losses(self, losses):
        return sum(losses.values()), {}


class _SlowSGD(torch.optim.SGD):

    def step(self, closure=None):
        time.sleep(OPTIMIZER)
        return super().step(closure)


def _close(measured, expected):
    assert expected - 0.002 <= measured <= expected + TOLERANCE, (measured,
                                                                  expected)


def test_train_step_parts_have_their_durations():
    model = _Detector()
    optimizer = _SlowSGD(model.parameters(), lr=0.0)
    batch = dict(inputs=torch.ones(2, 3, requires_grad=False))
    times = time_detector_step(model, batch, 'train', torch.device('cpu'),
                               optimizer)
    _close(times['data preprocessor'], PREPROCESS)
    _close(times['backbone'], BACKBONE[0])
    _close(times['neck'], NECK[0])
    _close(times['rpn head'], RPN[0])
    _close(times['roi heads'], ROI[0])
    _close(times['heads backward'], RPN[1] + ROI[1])
    _close(times['neck backward'], NECK[1])
    _close(times['backbone backward'], BACKBONE[1])
    _close(times['optimizer step'], OPTIMIZER)
    assert all(p.grad is None for p in model.parameters())  # zero_grad
    total = sum(times[p] for p in TRAIN_PARTS)
    assert 0 <= times['step'] - total < TOLERANCE
    # the parts are unwrapped again
    assert 'forward' not in vars(model.backbone)
    assert 'loss' not in vars(model.roi_head)


def test_infer_step_parts_and_table():
    model = _Detector().eval()
    batch = dict(inputs=torch.ones(2, 3))
    rounds = [
        time_detector_step(model, batch, 'infer', torch.device('cpu'))
        for _ in range(3)
    ]
    for times in rounds:
        _close(times['backbone'], BACKBONE[0])
        _close(times['roi heads'], ROI[0])
        assert 'heads backward' not in times
    table = format_split('stand-in', 'infer', rounds, INFER_PARTS)
    rows = dict(
        re.findall(r'^\| (\w[\w ]*?) \| ([\d.]+) \|', table, re.MULTILINE))
    assert float(rows['backbone']) == pytest.approx(
        BACKBONE[0] * 1e3, abs=TOLERANCE * 1e3)
    assert '(rest)' in table


class _Capture:
    """An optimizer that keeps the gradients it is given."""

    def __init__(self, model):
        self.model = model
        self.grads = None

    def step(self):
        self.grads = {
            name: p.grad.clone()
            for name, p in self.model.named_parameters() if p.grad is not None
        }

    def zero_grad(self, set_to_none=True):
        self.model.zero_grad(set_to_none=set_to_none)


def test_split_step_gives_the_gradients_of_one_backward():
    """The staged backward of the small Mask R-CNN computes the gradients
    of a plain ``loss.backward()`` (same seed, same sampled RoIs)."""
    tool = load_tool('tools/analysis_tools/benchmark.py')
    model, scope, _ = tool.build_config_model(NANO_DET, None)
    batch = tool.synthetic_batch(model, scope, 2, 64, 96, seed=0)
    model.train()

    torch.manual_seed(1)
    data = model.data_preprocessor(batch, True)
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    loss.backward()
    expected = {
        name: p.grad.clone()
        for name, p in model.named_parameters() if p.grad is not None
    }
    model.zero_grad(set_to_none=True)

    torch.manual_seed(1)
    capture = _Capture(model)
    time_detector_step(model, batch, 'train', torch.device('cpu'), capture)
    assert set(capture.grads) == set(expected)
    assert any(k.startswith('backbone.') for k in expected)
    for name, grad in expected.items():
        torch.testing.assert_close(
            capture.grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_one_stage_model_is_refused():
    model = _Detector()
    model.rpn_head = None
    with pytest.raises(ValueError, match='rpn_head'):
        time_detector_step(model, dict(inputs=torch.ones(1)), 'train',
                           torch.device('cpu'))


def test_tool_split_of_the_small_mask_rcnn(capsys):
    tool = load_tool('tools/analysis_tools/benchmark.py')
    tool.main([
        NANO_DET, '--split', '--shape', '64', '96', '--batch-size', '1',
        '--warmup', '1', '--repeats', '2', '--modes', 'train', 'infer'
    ])
    out = capsys.readouterr().out
    for mode, parts in (('train', TRAIN_PARTS), ('infer', INFER_PARTS)):
        block = out.split(f'({mode}, fp32, batch 1 x 64 x 96)')[1]
        block = block.split('\n\n')[0]
        found = re.findall(r'^\| ([a-z ()]+?) \| [\d.]+ \|', block,
                           re.MULTILINE)
        assert found == list(parts) + ['(rest)'], block
    with pytest.raises(SystemExit):
        tool.parse_args(['--arch', 'tiny', '--split'])
