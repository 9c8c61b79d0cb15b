"""Sanity checks of the independent HorNet reference (tests/reference_hornet.py).

These check the oracle itself against published numbers and hand-computed
values, so that tests comparing the package against it are meaningful.
"""
import math

import pytest
import torch

from reference_hornet import (ARCHS, count_params, global_local_filter, gnconv,
                              gnconv_widths, hornet_block, layer_norm_cf,
                              make_official_state_dict, reference_forward,
                              resize_complex_weight)

# Parameter counts (M, 1000-class head) from the spec's table.
SPEC_PARAMS_M = {
    'tiny': 22.41,
    'tiny-gf': 22.99,
    'small': 49.53,
    'small-gf': 50.40,
    'base': 87.26,
    'base-gf': 88.42,
    'large': 194.54,
    'large-gf': 196.29,
}


@pytest.mark.parametrize('arch', sorted(SPEC_PARAMS_M))
def test_param_counts_match_published_table(arch):
    n = count_params(make_official_state_dict(arch))
    assert abs(n / 1e6 - SPEC_PARAMS_M[arch]) < 0.005 + 1e-9, n


def test_param_count_large_gf384():
    """large-gf384 with the official filter sizes (24, 13) / (12, 7).

    The spec's table lists 201.23M, but that number is what the filter sizes
    (24, 12) / (13, 7) give, i.e. the defective mmpretrain 1.2.0 'gf384' arch
    the spec itself warns about (its README reports 201.23M). With the correct
    rfft sizes of a 384 input (24 x 13 at stride 16, 12 x 7 at stride 32) the
    count is 201.81M. Both facts are asserted here.
    """
    sd = make_official_state_dict('large-gf384')
    assert sd['stages.2.0.gnconv.dwconv.complex_weight'].shape == (720, 24, 13,
                                                                   2)
    assert sd['stages.3.0.gnconv.dwconv.complex_weight'].shape == (1488, 12, 7,
                                                                   2)
    assert count_params(sd) == 201_806_824  # 201.81M

    mmpretrain_sizes = make_official_state_dict(
        'large-gf384', filter_sizes=[(24, 12), (13, 7)])
    assert round(count_params(mmpretrain_sizes) / 1e6, 2) == 201.23


def test_param_count_difference_gf_minus_7x7_by_hand():
    # tiny: stage 2 (dim 256, order 4, sumC 480) and stage 3 (dim 512, order 5, sumC 992)
    # 7x7 mixer: sumC*49 + sumC; GF: 2*sumC (pre) + sumC/2*9 + sumC/2*h*w*2 + 2*sumC (post)
    def seven(c):
        return c * 49 + c

    def gf(c, h, w):
        return 4 * c + c // 2 * 9 + c // 2 * h * w * 2

    delta = 18 * (gf(480, 14, 8) - seven(480)) + 2 * (
        gf(992, 7, 4) - seven(992))
    assert (count_params(make_official_state_dict('tiny-gf')) -
            count_params(make_official_state_dict('tiny'))) == delta


def test_arch_table():
    expected_width = dict(tiny=64, small=96, base=128, large=192)
    for name, cfg in ARCHS.items():
        size = name.split('-')[0]
        assert cfg['base_dim'] == expected_width[size]
        assert cfg['depths'] == [2, 3, 18, 2]
        assert cfg['orders'] == [2, 3, 4, 5]
        if '-gf' in name:
            assert cfg['mixers'][:2] == [('dw', 7), ('dw', 7)]
            if name.endswith('384'):
                assert cfg['mixers'][2:] == [('gf', 24, 13), ('gf', 12, 7)]
            else:
                assert cfg['mixers'][2:] == [('gf', 14, 8), ('gf', 7, 4)]
        else:
            assert cfg['mixers'] == [('dw', 7)] * 4
    for name in [
            'tiny', 'tiny-gf', 'small', 'small-gf', 'base', 'base-gf', 'large',
            'large-gf', 'large-gf384'
    ]:
        assert name in ARCHS


def test_gnconv_widths():
    assert gnconv_widths(256, 3) == [64, 128, 256]
    assert gnconv_widths(64, 2) == [32, 64]
    assert gnconv_widths(512, 5) == [32, 64, 128, 256, 512]
    for dim, order in [(256, 3), (768, 4), (1536, 5)]:
        w = gnconv_widths(dim, order)
        assert sum(w) == 2 * dim - w[0]


def test_official_key_layout():
    sd = make_official_state_dict('tiny-gf', num_classes=10)
    # 4 downsample layers x 4 tensors, final norm + head (4)
    # 7x7 block: 16 + 2*(order-1) tensors; GF block: 20 + 2*(order-1)
    n_keys = 16 + 4 + 2 * (16 + 2) + 3 * (16 + 4) + 18 * (20 + 6) + 2 * (20 +
                                                                         8)
    assert len(sd) == n_keys
    assert len(make_official_state_dict('tiny')) == n_keys - 4 * 20
    shapes = {
        'downsample_layers.0.0.weight': (64, 3, 4, 4),
        'downsample_layers.0.0.bias': (64, ),
        'downsample_layers.0.1.weight': (64, ),
        'downsample_layers.1.0.weight': (64, ),
        'downsample_layers.1.1.weight': (128, 64, 2, 2),
        'downsample_layers.3.0.bias': (256, ),
        'downsample_layers.3.1.weight': (512, 256, 2, 2),
        'stages.0.1.norm1.weight': (64, ),
        'stages.0.1.gnconv.proj_in.weight': (128, 64, 1, 1),
        'stages.0.1.gnconv.dwconv.weight': (96, 1, 7, 7),
        'stages.0.1.gnconv.dwconv.bias': (96, ),
        'stages.0.1.gnconv.pws.0.weight': (64, 32, 1, 1),
        'stages.1.2.gnconv.pws.1.weight': (128, 64, 1, 1),
        'stages.1.2.gnconv.proj_out.weight': (128, 128, 1, 1),
        'stages.2.17.gnconv.dwconv.pre_norm.weight': (480, ),
        'stages.2.17.gnconv.dwconv.dw.weight': (240, 1, 3, 3),
        'stages.2.17.gnconv.dwconv.complex_weight': (240, 14, 8, 2),
        'stages.2.17.gnconv.dwconv.post_norm.bias': (480, ),
        'stages.2.17.gnconv.pws.2.bias': (256, ),
        'stages.3.1.gnconv.dwconv.complex_weight': (496, 7, 4, 2),
        'stages.3.1.gnconv.pws.3.weight': (512, 256, 1, 1),
        'stages.3.1.norm2.weight': (512, ),
        'stages.3.1.pwconv1.weight': (2048, 512),
        'stages.3.1.pwconv2.weight': (512, 2048),
        'stages.3.1.gamma1': (512, ),
        'stages.3.1.gamma2': (512, ),
        'norm.weight': (512, ),
        'head.weight': (10, 512),
        'head.bias': (10, ),
    }
    for k, shape in shapes.items():
        assert tuple(sd[k].shape) == shape, k
        assert sd[k].dtype == torch.float32
    assert 'stages.2.0.gnconv.dwconv.dw.bias' not in sd
    assert 'stages.0.0.gnconv.pws.1.weight' not in sd
    # layer scales are far from the 1e-6 init so that every block is visible
    assert sd['stages.2.3.gamma1'].abs().min() > 0.05


def test_state_dict_seed_and_filter_override():
    a = make_official_state_dict('tiny-gf', seed=3)
    b = make_official_state_dict('tiny-gf', seed=3)
    c = make_official_state_dict('tiny-gf', seed=4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a['head.weight'], c['head.weight'])
    d = make_official_state_dict('tiny-gf', filter_sizes=[(24, 13), (12, 7)])
    assert d['stages.2.0.gnconv.dwconv.complex_weight'].shape == (240, 24, 13,
                                                                  2)
    assert d['stages.3.0.gnconv.dwconv.complex_weight'].shape == (496, 12, 7,
                                                                  2)
    e = make_official_state_dict('tiny-gf', filter_sizes={3: (5, 3)})
    assert e['stages.2.0.gnconv.dwconv.complex_weight'].shape == (240, 14, 8,
                                                                  2)
    assert e['stages.3.0.gnconv.dwconv.complex_weight'].shape == (496, 5, 3, 2)


# ----------------------------------------------------------------------------
# Global-local filter, hand-checkable cases
# ----------------------------------------------------------------------------
def _gf_params(c, h, w, complex_value=(1.0, 0.0), dw_identity=True):
    """Plain GF params: unit LayerNorms, identity 3x3, constant complex weight."""
    half = c // 2
    dw = torch.zeros(half, 1, 3, 3)
    if dw_identity:
        dw[:, :, 1, 1] = 1.0
    cw = torch.empty(half, h, w, 2)
    cw[..., 0] = complex_value[0]
    cw[..., 1] = complex_value[1]
    return {
        'g.pre_norm.weight': torch.ones(c),
        'g.pre_norm.bias': torch.zeros(c),
        'g.dw.weight': dw,
        'g.complex_weight': cw,
        'g.post_norm.weight': torch.ones(c),
        'g.post_norm.bias': torch.zeros(c),
    }


def _interleave_perm(c):
    """out channel 2i <- input channel i (a half), 2i+1 <- c/2 + i (b half)."""
    half = c // 2
    perm = []
    for i in range(half):
        perm += [i, half + i]
    return perm


def test_gf_identity_filter_is_channel_interleave_of_layernorm():
    torch.manual_seed(0)
    c, h, w = 8, 6, 10
    x = torch.randn(2, c, h, w, dtype=torch.float32) * 3 + 1
    sd = _gf_params(c, h, w // 2 + 1, complex_value=(1.0, 0.0))
    out = global_local_filter(x, sd, 'g.')
    ones, zeros = torch.ones(c), torch.zeros(c)
    expected = layer_norm_cf(x, ones, zeros)[:, _interleave_perm(c)]
    # LN(LN(x)) == LN(x) up to eps; channel permutation commutes with LN
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)


def test_gf_real_constant_filter_scales_global_half():
    """Constant real filter 2 -> b doubled; stored at another size -> resize keeps it."""
    torch.manual_seed(1)
    c, h, w = 4, 6, 8
    x = torch.randn(1, c, h, w)
    sd = _gf_params(c, 5, 3, complex_value=(2.0, 0.0))  # stored size != (6, 5)
    # out = LN(interleave(a, 2 b)) with (a, b) the halves of LN(x)
    ones, zeros = torch.ones(c), torch.zeros(c)
    y = layer_norm_cf(x, ones, zeros)
    a, b = y[:, :2], y[:, 2:]
    mixed = torch.stack([a, 2 * b], dim=2).reshape(1, c, h, w)
    expected = layer_norm_cf(mixed, ones, zeros)
    torch.testing.assert_close(
        global_local_filter(x, sd, 'g.'), expected, atol=1e-5, rtol=1e-5)


def test_gf_phase_ramp_is_circular_shift():
    """Multiplying the spectrum by exp(-2*pi*i*(kh/H + kw/W)) shifts by (1, 1)."""
    torch.manual_seed(2)
    c, h, w = 4, 6, 8
    kh = torch.fft.fftfreq(h) * h  # 0,1,2,-3,-2,-1
    kw = torch.arange(w // 2 + 1, dtype=torch.float32)
    phase = -2 * math.pi * (kh[:, None] / h + kw[None, :] / w)
    sd = _gf_params(c, h, w // 2 + 1)
    sd['g.complex_weight'] = torch.stack(
        [torch.cos(phase), torch.sin(phase)],
        dim=-1).expand(c // 2, h, w // 2 + 1, 2).clone()
    x = torch.randn(1, c, h, w)
    ones, zeros = torch.ones(c), torch.zeros(c)
    y = layer_norm_cf(x, ones, zeros)
    a, b = y[:, :2], torch.roll(y[:, 2:], shifts=(1, 1), dims=(2, 3))
    expected = layer_norm_cf(
        torch.stack([a, b], dim=2).reshape(1, c, h, w), ones, zeros)
    torch.testing.assert_close(
        global_local_filter(x, sd, 'g.'), expected, atol=1e-5, rtol=1e-5)


def test_gf_one_by_one_input():
    """1x1 input: FFT branch multiplies by Re(w); 3x3 dw branch is the centre tap."""
    c = 4
    x = torch.tensor([1.0, -2.0, 0.5, 3.0]).view(1, c, 1, 1)
    sd = _gf_params(c, 1, 1)
    sd['g.complex_weight'] = torch.tensor([[[[0.5, 7.0]]],
                                           [[[-1.5, 2.0]]]])  # (2,1,1,2)
    sd['g.dw.weight'] = torch.arange(18, dtype=torch.float32).view(2, 1, 3, 3)
    mean = sum([1.0, -2.0, 0.5, 3.0]) / 4
    var = sum((v - mean)**2 for v in [1.0, -2.0, 0.5, 3.0]) / 4
    y = [(v - mean) / math.sqrt(var + 1e-6) for v in [1.0, -2.0, 0.5, 3.0]]
    a = [y[0] * 4.0, y[1] * 13.0]  # centre taps of kernels 0..8 and 9..17
    b = [y[2] * 0.5, y[3] * -1.5]
    mixed = [a[0], b[0], a[1], b[1]]
    m2 = sum(mixed) / 4
    v2 = sum((v - m2)**2 for v in mixed) / 4
    expected = torch.tensor([(v - m2) / math.sqrt(v2 + 1e-6)
                             for v in mixed]).view(1, c, 1, 1)
    torch.testing.assert_close(
        global_local_filter(x, sd, 'g.'), expected, atol=1e-5, rtol=1e-5)


def test_resize_complex_weight_bilinear_align_corners():
    w = torch.tensor([[0.0, 3.0], [6.0, 9.0]])  # (h=2, w=2)
    cw = torch.stack([w, -w], dim=-1)[None]  # (1, 2, 2, 2)
    r = resize_complex_weight(cw, (4, 4))
    # align_corners=True: sample points 0, 1/3, 2/3, 1 along each axis
    expected = torch.tensor([[0.0, 1.0, 2.0, 3.0], [2.0, 3.0, 4.0, 5.0],
                             [4.0, 5.0, 6.0, 7.0], [6.0, 7.0, 8.0, 9.0]])
    torch.testing.assert_close(r[0, ..., 0], expected)
    torch.testing.assert_close(r[0, ..., 1], -expected)
    assert resize_complex_weight(cw, (2, 2)) is cw


# ----------------------------------------------------------------------------
# gnConv and block, hand-checkable cases
# ----------------------------------------------------------------------------
def test_gnconv_order2_one_pixel_by_hand():
    """dim 2, order 2 (widths 1, 2) on a 1x1 input, 7x7 dw reduces to the centre tap."""
    g = torch.Generator().manual_seed(5)
    order, s = 2, 1.0 / 3
    sd = {
        'n.proj_in.weight': torch.randn(4, 2, 1, 1, generator=g),
        'n.proj_in.bias': torch.randn(4, generator=g),
        'n.dwconv.weight': torch.randn(3, 1, 7, 7, generator=g),
        'n.dwconv.bias': torch.randn(3, generator=g),
        'n.pws.0.weight': torch.randn(2, 1, 1, 1, generator=g),
        'n.pws.0.bias': torch.randn(2, generator=g),
        'n.proj_out.weight': torch.randn(2, 2, 1, 1, generator=g),
        'n.proj_out.bias': torch.randn(2, generator=g),
    }
    xv = [0.7, -1.3]
    x = torch.tensor(xv).view(1, 2, 1, 1)
    L = {k: v.tolist() for k, v in sd.items()}
    fused = [
        sum(L['n.proj_in.weight'][o][i][0][0] * xv[i]
            for i in range(2)) + L['n.proj_in.bias'][o] for o in range(4)
    ]
    p = fused[0]
    q = [(fused[1 + j] * L['n.dwconv.weight'][j][0][3][3] +
          L['n.dwconv.bias'][j]) * s for j in range(3)]
    q0, q1 = q[0], q[1:]
    t = p * q0
    t = [(L['n.pws.0.weight'][o][0][0][0] * t + L['n.pws.0.bias'][o]) * q1[o]
         for o in range(2)]
    out = [
        sum(L['n.proj_out.weight'][o][i][0][0] * t[i]
            for i in range(2)) + L['n.proj_out.bias'][o] for o in range(2)
    ]
    got = gnconv(x, sd, 'n.', order, 'dw', s)
    torch.testing.assert_close(
        got, torch.tensor(out).view(1, 2, 1, 1), atol=1e-5, rtol=1e-5)


def test_block_mlp_branch_one_pixel_by_hand():
    """gamma1 = 0 isolates the channels-last MLP: x + g2 * W2 gelu_erf(W1 LN(x) + b1) + b2."""
    g = torch.Generator().manual_seed(7)
    dim = 2
    sd = {
        'b.norm1.weight': torch.ones(dim),
        'b.norm1.bias': torch.zeros(dim),
        'b.gnconv.proj_in.weight': torch.randn(4, 2, 1, 1, generator=g),
        'b.gnconv.proj_in.bias': torch.zeros(4),
        'b.gnconv.dwconv.weight': torch.randn(3, 1, 7, 7, generator=g),
        'b.gnconv.dwconv.bias': torch.zeros(3),
        'b.gnconv.pws.0.weight': torch.randn(2, 1, 1, 1, generator=g),
        'b.gnconv.pws.0.bias': torch.zeros(2),
        'b.gnconv.proj_out.weight': torch.randn(2, 2, 1, 1, generator=g),
        'b.gnconv.proj_out.bias': torch.zeros(2),
        'b.gamma1': torch.zeros(dim),
        'b.norm2.weight': torch.tensor([1.5, 0.5]),
        'b.norm2.bias': torch.tensor([0.1, -0.2]),
        'b.pwconv1.weight': torch.randn(8, 2, generator=g),
        'b.pwconv1.bias': torch.randn(8, generator=g),
        'b.pwconv2.weight': torch.randn(2, 8, generator=g),
        'b.pwconv2.bias': torch.randn(2, generator=g),
        'b.gamma2': torch.tensor([0.3, -0.7]),
    }
    xv = [0.4, 2.0]
    L = {k: v.tolist() for k, v in sd.items()}
    m = sum(xv) / 2
    v = sum((t - m)**2 for t in xv) / 2
    y = [(xv[i] - m) / math.sqrt(v + 1e-6) * L['b.norm2.weight'][i] +
         L['b.norm2.bias'][i] for i in range(2)]
    h = [
        sum(L['b.pwconv1.weight'][o][i] * y[i]
            for i in range(2)) + L['b.pwconv1.bias'][o] for o in range(8)
    ]
    h = [0.5 * t * (1 + math.erf(t / math.sqrt(2))) for t in h]
    z = [
        sum(L['b.pwconv2.weight'][o][i] * h[i]
            for i in range(8)) + L['b.pwconv2.bias'][o] for o in range(2)
    ]
    expected = [xv[o] + L['b.gamma2'][o] * z[o] for o in range(2)]
    got = hornet_block(torch.tensor(xv).view(1, 2, 1, 1), sd, 'b.', 2, 'dw')
    torch.testing.assert_close(
        got, torch.tensor(expected).view(1, 2, 1, 1), atol=1e-6, rtol=1e-6)


def test_block_with_zero_layer_scales_is_identity():
    sd = make_official_state_dict('tiny')
    x = torch.randn(1, 64, 9, 11)
    sd['stages.0.0.gamma1'] = torch.zeros(64)
    sd['stages.0.0.gamma2'] = torch.zeros(64)
    torch.testing.assert_close(hornet_block(x, sd, 'stages.0.0.', 2, 'dw'), x)
    # and with non-zero scales it is not
    sd2 = make_official_state_dict('tiny')
    assert (hornet_block(x, sd2, 'stages.0.0.', 2, 'dw') -
            x).abs().mean() > 1e-2


# ----------------------------------------------------------------------------
# Whole network
# ----------------------------------------------------------------------------
@pytest.mark.parametrize('arch', ['tiny', 'tiny-gf'])
@pytest.mark.parametrize('hw', [(224, 224), (193, 257)])
def test_reference_forward_shapes(arch, hw):
    torch.manual_seed(0)
    sd = make_official_state_dict(arch, num_classes=7)
    x = torch.randn(2, 3, *hw)
    with torch.no_grad():
        out = reference_forward(sd, x, arch)
    h, w = hw[0] // 4, hw[1] // 4
    expected = [(2, 64, h, w), (2, 128, h // 2, w // 2),
                (2, 256, h // 4, w // 4), (2, 512, h // 8, w // 8)]
    assert [tuple(t.shape) for t in out['stages']] == expected
    assert out['pooled'].shape == (2, 512)
    assert out['logits'].shape == (2, 7)
    for t in out['stages'] + [out['pooled'], out['logits']]:
        assert torch.isfinite(t).all()
    # activations stay O(1) with the chosen random scales
    for t in out['stages']:
        assert 0.3 < t.std().item() < 5.0
    # pooled = LN(mean over space of the last stage)
    ref = torch.nn.functional.layer_norm(out['stages'][3].mean(
        (2, 3)), (512, ), sd['norm.weight'], sd['norm.bias'], 1e-6)
    torch.testing.assert_close(out['pooled'], ref)


def test_gf_blocks_matter_and_filter_size_override_runs():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 224, 224)
    sd = make_official_state_dict('tiny-gf')
    with torch.no_grad():
        base = reference_forward(sd, x, 'tiny-gf')['logits']
        sd2 = dict(sd)
        sd2['stages.2.5.gnconv.dwconv.complex_weight'] = sd[
            'stages.2.5.gnconv.dwconv.complex_weight'] * 0.5
        changed = reference_forward(sd2, x, 'tiny-gf')['logits']
        assert (changed - base).abs().max() > 1e-3
        # a checkpoint stored at the 384 filter sizes is resized to the 224 spectrum
        sd384 = make_official_state_dict(
            'tiny-gf', filter_sizes=[(24, 13), (12, 7)])
        out = reference_forward(sd384, x, 'tiny-gf')
        assert torch.isfinite(out['logits']).all()
