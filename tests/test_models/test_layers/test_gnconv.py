"""gnConv, the global-local filter and the channel-first LayerNorm.

Expected values come from the plain functional formulation in
``tests/reference_hornet.py`` (written from the equations, independent of the
package) or are computed by hand.
"""
import logging

import pytest
import torch
import torch.nn as nn

import reference_hornet as ref
from hornet_mm.models.layers import (GlobalLocalFilter, GnConv, LayerNorm2d,
                                     build_mixer, gnconv_widths)


def _randomize(module: nn.Module, seed: int = 0) -> None:
    """Give every parameter non-trivial values so that every path matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.5)


def test_layer_norm_2d_matches_hand_formula():
    x = torch.randn(2, 5, 3, 4)
    norm = LayerNorm2d(5)
    _randomize(norm)
    mean = x.mean(1, keepdim=True)
    var = ((x - mean)**2).mean(1, keepdim=True)
    expected = (x - mean) / torch.sqrt(var + 1e-6)
    expected = expected * norm.weight.view(1, -1, 1, 1) + norm.bias.view(
        1, -1, 1, 1)
    torch.testing.assert_close(norm(x), expected, rtol=1e-5, atol=1e-5)
    assert norm.eps == 1e-6


@pytest.mark.parametrize('dim,order,expected', [
    (256, 3, [64, 128, 256]),
    (64, 2, [32, 64]),
    (512, 5, [32, 64, 128, 256, 512]),
    (7, 1, [7]),
])
def test_gnconv_widths(dim, order, expected):
    widths = gnconv_widths(dim, order)
    assert widths == expected
    assert sum(widths) == 2 * dim - widths[0]


def test_gnconv_widths_rejects_indivisible():
    with pytest.raises(ValueError, match='not divisible'):
        gnconv_widths(36, 4)


@pytest.mark.parametrize('order', [1, 2, 3, 4, 5])
@pytest.mark.parametrize('mixer', ['dw', 'gf'])
def test_backbone_gnconv_matches_reference(order, mixer):
    dim = 32
    cfg = dict(
        type='DW', kernel_size=7) if mixer == 'dw' else dict(
            type='GF', h=5, w=3)
    module = GnConv(dim, order=order, mixer_cfg=cfg, scale=1 / 3)
    _randomize(module, seed=order)
    x = torch.randn(2, dim, 9, 11)
    expected = ref.gnconv(x, {
        k: v
        for k, v in module.state_dict().items()
    }, '', order, mixer, 1 / 3)
    # With these weights the outputs reach 1e3..1e4 (7x7 mixer), so float32
    # rounding of a differently ordered computation (scale folded into the
    # mixer, proj_in in two slices) is ~1e-7 of that: an absolute tolerance
    # of 1e-5 only holds for one order of operations. Both orders are as
    # close to a float64 evaluation.
    atol = 1e-5 + 2e-6 * expected.abs().max().item()
    torch.testing.assert_close(module(x), expected, rtol=1e-4, atol=atol)
    module.fused = False  # the equations module by module
    torch.testing.assert_close(module(x), expected, rtol=1e-4, atol=atol)


def test_gnconv_order_two_by_hand():
    """Order 2 on one pixel with 1x1 'depthwise' weights, worked by hand."""
    module = GnConv(
        2, order=2, mixer_cfg=dict(type='DW', kernel_size=1), scale=0.5)
    # widths C_0 = 1, C_1 = 2; proj_in: 2 -> 4 channels = p (1) + q (3)
    with torch.no_grad():
        module.proj_in.weight.copy_(
            torch.tensor([[1., 0.], [0., 1.], [1., 1.],
                          [2., 0.]]).view(4, 2, 1, 1))
        module.proj_in.bias.zero_()
        module.dwconv.weight.fill_(2.)  # mixer doubles, scale halves
        module.dwconv.bias.zero_()
        module.pws[0].weight.copy_(torch.tensor([[1.], [3.]]).view(2, 1, 1, 1))
        module.pws[0].bias.copy_(torch.tensor([0., 1.]))
        module.proj_out.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
        module.proj_out.bias.zero_()
    x = torch.tensor([2., 3.]).view(1, 2, 1, 1)
    # proj_in -> [2, 3, 5, 4]; p = 2; q = [3, 5, 4] (mixer*scale = identity)
    # x = p * q_0 = 6; pw(6) = [6, 19]; * q_1 = [5, 4] -> [30, 76]
    out = module(x).flatten().tolist()
    assert out == pytest.approx([30., 76.])


def test_decoder_gnconv_channels_norm_act():
    module = GnConv(
        48,
        16,
        order=2,
        mixer_cfg=dict(type='DW', kernel_size=7),
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='ReLU'))
    assert module.proj_in.in_channels == 48
    assert module.proj_in.out_channels == 32
    assert isinstance(module.norm, nn.BatchNorm2d)
    assert isinstance(module.act, nn.ReLU)
    out = module(torch.randn(2, 48, 8, 10))
    assert out.shape == (2, 16, 8, 10)
    assert (out >= 0).all()


def test_decoder_gnconv_without_proj_out_is_identity_projection():
    module = GnConv(24, 16, order=2, with_proj_out=False)
    assert isinstance(module.proj_out, nn.Identity)
    assert 'proj_out.weight' not in module.state_dict()
    assert module(torch.randn(1, 24, 6, 6)).shape == (1, 16, 6, 6)
    with pytest.raises(ValueError, match='dim_ratio'):
        GnConv(24, 16, order=2, dim_ratio=2, with_proj_out=False)


def test_decoder_gnconv_dim_ratio():
    module = GnConv(24, 16, order=2, dim_ratio=2)
    assert module.dims == [16, 32]
    assert module(torch.randn(1, 24, 5, 5)).shape == (1, 16, 5, 5)


def test_build_mixer_errors():
    with pytest.raises(ValueError, match="'DW' or 'GF'"):
        build_mixer(dict(type='XX'), 8)
    with pytest.raises(ValueError, match='Unknown keys'):
        build_mixer(dict(type='DW', kernel_size=7, dilation=2), 8)
    assert isinstance(
        build_mixer(dict(type='gf', h=3, w=2), 8), GlobalLocalFilter)


@pytest.mark.parametrize('size', [(14, 14), (13, 19), (193, 257), (1, 1),
                                  (7, 2)])
def test_global_local_filter_matches_reference_any_size(size):
    gf = GlobalLocalFilter(16, h=14, w=8)
    _randomize(gf)
    x = torch.randn(2, 16, *size)
    expected = ref.global_local_filter(x, gf.state_dict(), '')
    out = gf(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


def test_global_local_filter_identity_filter_by_hand():
    """A (1 + 0j) filter and identity 3x3 taps: output is LN(x) interleaved."""
    gf = GlobalLocalFilter(4, h=3, w=2)
    with torch.no_grad():
        gf.complex_weight.zero_()
        gf.complex_weight[..., 0] = 1.
        gf.dw.weight.zero_()
        gf.dw.weight[:, :, 1, 1] = 1.
    x = torch.randn(1, 4, 5, 3)
    normed = LayerNorm2d(4)(x)
    mixed = gf.post_norm(normed[:, [0, 2, 1, 3]])
    torch.testing.assert_close(gf(x), mixed, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_global_local_filter_fft_in_float32_under_autocast(dtype, monkeypatch):
    gf = GlobalLocalFilter(8, h=6, w=4)
    seen = []
    rfft2 = torch.fft.rfft2

    def spy(x, *args, **kwargs):
        seen.append(x.dtype)
        return rfft2(x, *args, **kwargs)

    monkeypatch.setattr(torch.fft, 'rfft2', spy)
    x = torch.randn(2, 8, 6, 6)
    with torch.autocast('cpu', dtype=dtype):
        out = gf(x.to(dtype))
    assert seen == [torch.float32]
    assert out.dtype == dtype
    assert torch.isfinite(out.float()).all()
    torch.testing.assert_close(out.float(), gf(x), rtol=0.05, atol=0.05)


def test_global_local_filter_load_resizes_with_warning(monkeypatch):
    from hornet_mm.models.layers import gnconv as gnconv_module
    logged = []
    monkeypatch.setattr(
        gnconv_module,
        'print_log',
        lambda msg, logger=None, level=None: logged.append((msg, level)))
    small = GlobalLocalFilter(8, h=4, w=3)
    big = GlobalLocalFilter(8, h=7, w=5)
    big.load_state_dict(small.state_dict())
    expected = ref.resize_complex_weight(small.complex_weight.detach(), (7, 5))
    torch.testing.assert_close(big.complex_weight.detach(), expected)
    assert logged == [('Resizing complex_weight from (4, 3) to (7, 5) '
                       '(bilinear, align_corners=True)', logging.WARNING)]


def test_global_local_filter_wrong_channels_is_an_error():
    with pytest.raises(RuntimeError, match='complex_weight'):
        GlobalLocalFilter(8).load_state_dict(
            GlobalLocalFilter(16).state_dict())
    with pytest.raises(ValueError, match='even'):
        GlobalLocalFilter(7)
