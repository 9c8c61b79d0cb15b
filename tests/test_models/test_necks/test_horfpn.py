"""HorFPN: mmdet's FPN options with gnConv output convolutions."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.necks import FPN

import reference_hornet as ref
from hornet_mm.models.layers import GlobalLocalFilter, GnConv
from hornet_mm.models.necks import HorFPN

IN_CHANNELS = [8, 16, 32, 64]
SIZES = [32, 16, 8, 4]


def _inputs(batch=1, sizes=SIZES, extra_width=3):
    gen = torch.Generator().manual_seed(0)
    return [
        torch.randn(batch, c, s, s + extra_width, generator=gen)
        for c, s in zip(IN_CHANNELS, sizes)
    ]


def _randomize(module, seed=1):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


LEVELS = [(0, -1, 4), (0, -1, 6), (1, -1, 5), (0, 3, 4)]
EXTRA = [False, 'on_input', 'on_lateral', 'on_output', True]
# an end level before the last one admits no extra levels
CASES = [(*lv, extra) for lv in LEVELS for extra in EXTRA] + [(1, 2, 2, False)]


@pytest.mark.parametrize('start_level,end_level,num_outs,add_extra_convs',
                         CASES)
def test_levels_and_extra_convs_match_fpn_shapes(start_level, end_level,
                                                 num_outs, add_extra_convs):
    kwargs = dict(
        start_level=start_level,
        end_level=end_level,
        add_extra_convs=add_extra_convs)
    neck = HorFPN(IN_CHANNELS, 12, num_outs, **kwargs).eval()
    plain = FPN(IN_CHANNELS, 12, num_outs, **kwargs).eval()
    outs, expected = neck(_inputs()), plain(_inputs())
    assert [o.shape for o in outs] == [e.shape for e in expected]
    levels = neck.backbone_end_level - neck.start_level
    for i, conv in enumerate(neck.fpn_convs):
        gnconv = conv if i < levels else conv[1]
        assert isinstance(gnconv, GnConv) and gnconv.order == 2
        assert isinstance(gnconv.proj_out, nn.Conv2d)
        if i >= levels:  # strided 3x3 conv first, as in mmdet's FPN
            assert conv[0].conv.stride == (2, 2)


def test_output_equals_gnconv_of_top_down_laterals():
    """Recompute the top-down path by hand and apply the gnConv equation
    (reference formulation, scale 1) to each merged lateral."""
    neck = HorFPN(IN_CHANNELS, 16, 4).eval()
    _randomize(neck)
    feats = _inputs()
    laterals = [conv(f) for conv, f in zip(neck.lateral_convs, feats)]
    for i in range(3, 0, -1):
        laterals[i - 1] = laterals[i - 1] + F.interpolate(
            laterals[i], size=laterals[i - 1].shape[2:], mode='nearest')
    with torch.no_grad():
        outs = neck(feats)
    for lateral, conv, out in zip(laterals, neck.fpn_convs, outs):
        sd = conv.state_dict()
        expected = ref.gnconv(lateral.detach(), sd, '', 2, 'dw', scale=1.0)
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


def test_global_filter_mixer_any_level_size():
    neck = HorFPN(
        IN_CHANNELS,
        16,
        5,
        gnconv_cfg=dict(mixer_cfg=dict(type='GF', h=32, w=17)))
    assert all(
        isinstance(c.dwconv, GlobalLocalFilter) for c in neck.fpn_convs[:4])
    outs = neck(_inputs(sizes=[25, 13, 7, 4]))
    assert [tuple(o.shape[2:]) for o in outs] == [(25, 28), (13, 16), (7, 10),
                                                  (4, 7), (2, 4)]


def test_norm_act_relu_before_extra_and_upsample_cfg():
    neck = HorFPN(
        IN_CHANNELS,
        16,
        6,
        add_extra_convs='on_output',
        relu_before_extra_convs=True,
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='ReLU'),
        no_norm_on_lateral=True,
        upsample_cfg=dict(scale_factor=2, mode='bilinear'))
    assert isinstance(neck.fpn_convs[0].norm, nn.BatchNorm2d)
    assert isinstance(neck.fpn_convs[0].act, nn.ReLU)
    assert neck.lateral_convs[0].norm_name is None
    # scale_factor=2 upsampling needs exact halves
    outs = neck.train()(_inputs(batch=2, extra_width=0))
    assert len(outs) == 6 and all((o >= 0).all() for o in outs)
    sum(o.mean() for o in outs).backward()
    assert neck.fpn_convs[5][1].proj_in.weight.grad is not None


def test_errors():
    with pytest.raises(ValueError, match='gnconv_cfg'):
        HorFPN(IN_CHANNELS, 16, 4, gnconv_cfg=dict(kernel=7))
    with pytest.raises(ValueError, match='expects 4 input levels'):
        HorFPN(IN_CHANNELS, 16, 4)(_inputs()[:3])


def test_registered_for_mmdet():
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    neck = MODELS.build(
        dict(
            type='hornet_mm.HorFPN',
            in_channels=IN_CHANNELS,
            out_channels=8,
            num_outs=5))
    assert type(neck) is HorFPN
