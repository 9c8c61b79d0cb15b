"""The vectorised CPU RoIAlign against mmcv's compiled op and hand-computed
values, and the RoI extractor that uses it against mmdet's."""
import importlib

import pytest
import torch
from mmcv.ops import roi_align as mmcv_roi_align

from hornet_mm.models.layers.roi_align import RoIAlign, roi_align_gather


def _rois(num, height, width, count, scale, gen):
    """RoIs in image coordinates, some partly or wholly off the map, some
    thinner than a pixel."""
    b = torch.randint(0, num, (count, ), generator=gen).double()
    span_w, span_h = width / scale, height / scale
    x1 = torch.rand(count, generator=gen, dtype=torch.float64) * span_w * 1.3
    y1 = torch.rand(count, generator=gen, dtype=torch.float64) * span_h * 1.3
    x1, y1 = x1 - 0.15 * span_w, y1 - 0.15 * span_h
    w = torch.rand(count, generator=gen, dtype=torch.float64) * span_w * 0.7
    h = torch.rand(count, generator=gen, dtype=torch.float64) * span_h * 0.7
    w[:3] = torch.tensor([0.0, 0.3, 1e-3]) / scale  # degenerate widths
    return torch.stack([b, x1, y1, x1 + w, y1 + h], 1)


CASES = [
    # maps, channels, height, width, RoIs, spatial scale, sampling, aligned
    (2, 8, 13, 17, 60, 0.25, 2, True),
    (2, 8, 13, 17, 60, 0.25, 0, True),
    (3, 5, 9, 6, 40, 0.125, 0, False),
    (1, 4, 20, 20, 30, 1.0, 3, False),
    (2, 6, 11, 7, 33, 0.5, 1, True),
    (1, 3, 1, 9, 12, 1.0, 2, True),  # a map one row high
]


@pytest.mark.parametrize('num,channels,height,width,count,scale,sr,aligned',
                         CASES)
def test_equals_mmcv_forward_and_backward(num, channels, height, width, count,
                                          scale, sr, aligned):
    gen = torch.Generator().manual_seed(count)
    x = torch.randn(
        num,
        channels,
        height,
        width,
        dtype=torch.float64,
        generator=gen,
        requires_grad=True)
    rois = _rois(num, height, width, count, scale, gen)
    expected = mmcv_roi_align(x, rois, (7, 6), scale, sr, 'avg', aligned)
    grad_out = torch.randn(expected.shape, generator=gen, dtype=torch.float64)
    (expected_grad, ) = torch.autograd.grad(expected, x, grad_out)
    out = roi_align_gather(x, rois, (7, 6), scale, sr, aligned)
    (grad, ) = torch.autograd.grad(out, x, grad_out)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-12)


def test_float32_within_rounding_of_mmcv():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 16, 30, 40, generator=gen, requires_grad=True)
    rois = _rois(2, 30, 40, 100, 0.25, gen).float()
    expected = mmcv_roi_align(x, rois, 7, 0.25, 0, 'avg', True)
    out = roi_align_gather(x, rois, 7, 0.25, 0, True)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    grad = x.grad.clone()
    x.grad = None
    expected.sum().backward()
    torch.testing.assert_close(grad, x.grad, rtol=1e-5, atol=1e-5)


def test_hand_computed_values():
    feat = torch.arange(16.).view(1, 1, 4, 4)
    # aligned: the box shifted by half a pixel samples the 16 pixel centres
    whole = roi_align_gather(feat, torch.tensor([[0., 0, 0, 4, 4]]), 1)
    assert whole.item() == pytest.approx(7.5)
    # not aligned, sampling 2 x 2 in one bin of the box x -4..0, y 0..1:
    # x = -3 is off the map (0), x = -1 clamps to column 0, where the rows
    # y = 0.25 and 0.75 interpolate 1 and 3: (0 + 0 + 1.5 + 2.5) / 4
    small = torch.tensor([[1., 2.], [3., 4.]]).view(1, 1, 2, 2)
    box = torch.tensor([[0., -4, 0, 0, 1]])
    out = roi_align_gather(small, box, 1, 1.0, 2, aligned=False)
    assert out.item() == pytest.approx(1.0)
    # one sample at the centre of pixel (row 1, column 2) of the second map
    two = torch.stack([feat[0], feat[0] + 100]).view(2, 1, 4, 4)
    out = roi_align_gather(two, torch.tensor([[1., 2, 1, 3, 2]]), 1, 1.0, 1)
    assert out.item() == pytest.approx(106.0)


def test_no_rois_and_bad_rois():
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    out = roi_align_gather(x, torch.zeros(0, 5), 7, 0.5, 2)
    assert out.shape == (0, 3, 7, 7)
    out.sum().backward()
    assert x.grad is not None and not x.grad.any()
    with pytest.raises(ValueError, match='x2 < x1'):
        roi_align_gather(x, torch.tensor([[0., 5, 5, 4, 6]]), 7)


def test_module_paths():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 12, 12, generator=gen)
    rois = _rois(2, 12, 12, 20, 0.5, gen).float()
    layer = RoIAlign(7, 0.5, 2)
    torch.testing.assert_close(
        layer(x, rois), mmcv_roi_align(x, rois, 7, 0.5, 2, 'avg', True))
    assert layer.state_dict() == {} and 'sampling_ratio=2' in repr(layer)
    # max pooling is mmcv's op
    layer = RoIAlign(7, 0.5, 2, pool_mode='max')
    torch.testing.assert_close(
        layer(x, rois), mmcv_roi_align(x, rois, 7, 0.5, 2, 'max', True))
    with pytest.raises(ValueError, match="pool_mode 'sum'"):
        RoIAlign(7, pool_mode='sum')


def test_onnx_export_takes_mmcvs_op(monkeypatch):
    """Under an ONNX export the layer is mmcv's (its symbolic exists; a
    traced gather would bake in one RoI set's sampling grid)."""
    # the package attribute mmcv.ops.roi_align is the function: the module
    mmcv_module = importlib.import_module('mmcv.ops.roi_align')
    calls = []
    real = mmcv_module.roi_align

    def spy(*args, **kwargs):
        calls.append(args[2:])
        return real(*args, **kwargs)

    monkeypatch.setattr(mmcv_module, 'roi_align', spy)
    monkeypatch.setattr(torch.onnx, 'is_in_onnx_export', lambda: True)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(1, 3, 10, 10, generator=gen)
    rois = _rois(1, 10, 10, 5, 1.0, gen).float()
    out = RoIAlign(7, 1.0, 2)(x, rois)
    assert calls == [((7, 7), 1.0, 2, 'avg', True)]
    torch.testing.assert_close(out, roi_align_gather(x, rois, 7, 1.0, 2))


def test_extractor_equals_mmdets():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = dict(
        roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
        out_channels=8,
        featmap_strides=[4, 8, 16, 32])
    theirs = MODELS.build(dict(type='SingleRoIExtractor', **cfg))
    ours = MODELS.build(dict(type='hornet_mm.SingleRoIExtractor', **cfg))
    assert type(ours.roi_layers[0]) is RoIAlign
    assert ours.roi_layers[2].spatial_scale == 1 / 16
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    gen = torch.Generator().manual_seed(0)
    feats = [
        torch.randn(2, 8, 64 // s, 96 // s, generator=gen, requires_grad=True)
        for s in (1, 2, 4, 8)
    ]
    # boxes of every level's size (mmdet maps sqrt(area) to levels)
    rois = torch.cat([
        _rois(2, 64, 96, 25, 1 / 4, gen)[:, :5].float(),
        torch.tensor([[0., 10, 10, 250, 240], [1., 0, 0, 380, 250]])
    ])
    grad_out = torch.randn(rois.shape[0], 8, 7, 7, generator=gen)
    results = []
    for extractor in (theirs, ours):
        out = extractor(feats, rois)
        results.append((out, torch.autograd.grad(out, feats, grad_out)))
    (expected, expected_grads), (out, grads) = results
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-5)
