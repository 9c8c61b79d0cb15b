"""GNUPerHead: mmseg's UPerHead with a gnConv fpn_bottleneck."""
import pytest
import torch
import torch.nn as nn
from mmengine.registry import init_default_scope
from mmseg.models.decode_heads import UPerHead

import reference_hornet as ref
from hornet_mm.models.decode_heads import GNUPerHead
from hornet_mm.models.layers import GlobalLocalFilter, GnConv

IN_CHANNELS = [8, 16, 32, 64]


def _inputs(height=33, width=47):
    gen = torch.Generator().manual_seed(0)
    shapes = [(height, width)]
    for _ in range(3):
        shapes.append(((shapes[-1][0] + 1) // 2, (shapes[-1][1] + 1) // 2))
    return [
        torch.randn(2, c, h, w, generator=gen)
        for c, (h, w) in zip(IN_CHANNELS, shapes)
    ]


def decoder_gnconv(x, sd, out_dim):
    """Order-2 gnConv, decoder form (in -> 2D, D = out_dim), from the
    equations with the reference's plain primitives."""
    widths = ref.gnconv_widths(out_dim, 2)
    fused = ref.conv1x1(x, sd['proj_in.weight'], sd['proj_in.bias'])
    p, q = fused[:, :widths[0]], fused[:, widths[0]:]
    q = ref.depthwise_conv(q, sd['dwconv.weight'], sd['dwconv.bias'])
    q0, q1 = torch.split(q, widths, dim=1)
    y = ref.conv1x1(p * q0, sd['pws.0.weight'], sd['pws.0.bias']) * q1
    return ref.conv1x1(y, sd['proj_out.weight'], sd['proj_out.bias'])


def _head(cls=GNUPerHead, **kwargs):
    init_default_scope('mmseg')  # losses are built from the current scope
    args = dict(
        in_channels=IN_CHANNELS,
        in_index=[0, 1, 2, 3],
        channels=16,
        num_classes=5)
    args.update(kwargs)
    return cls(**args)


@pytest.mark.parametrize('mixer', ['DW', 'GF'])
def test_output_shape_and_bottleneck(mixer):
    cfg = dict(mixer_cfg=dict(type='GF', h=32, w=17)) if mixer == 'GF' \
        else None
    head = _head(gnconv_cfg=cfg, norm_cfg=dict(type='BN')).eval()
    bottleneck = head.fpn_bottleneck
    assert isinstance(bottleneck, GnConv) and bottleneck.order == 2
    assert bottleneck.proj_in.in_channels == 4 * 16
    assert isinstance(bottleneck.proj_out, nn.Conv2d)
    assert isinstance(bottleneck.norm, nn.BatchNorm2d)
    assert isinstance(bottleneck.dwconv, GlobalLocalFilter) == (mixer == 'GF')
    out = head(_inputs())
    assert out.shape == (2, 5, 33, 47)


def test_fused_feature_is_gnconv_of_uperhead_concat():
    """Everything but the bottleneck is mmseg's UPerHead: feed its
    concatenated pyramid through the reference gnConv equations (+ ReLU)."""
    head = _head().eval()
    plain = _head(cls=UPerHead).eval()
    shared = {
        k: v
        for k, v in head.state_dict().items()
        if not k.startswith('fpn_bottleneck.')
    }
    plain.load_state_dict(shared, strict=False)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in head.fpn_bottleneck.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    captured = {}
    plain.fpn_bottleneck.register_forward_hook(
        lambda m, args, out: captured.setdefault('concat', args[0]))
    inputs = _inputs()
    with torch.no_grad():
        plain._forward_feature(inputs)
        fused = head._forward_feature(inputs)
        expected = torch.relu(
            decoder_gnconv(
                captured['concat'],
                head.fpn_bottleneck.state_dict(),
                out_dim=16))
    torch.testing.assert_close(fused, expected, rtol=1e-4, atol=1e-4)


def test_uperhead_options_and_loss():
    head = _head(
        pool_scales=(1, 3),
        dropout_ratio=0.2,
        align_corners=True,
        act_cfg=dict(type='GELU'),
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.5))
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(2):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, 33, 47)))
        sample.set_metainfo(dict(img_shape=(33, 47), pad_shape=(33, 47)))
        samples.append(sample)
    losses = head.loss(_inputs(), samples, dict())
    assert losses['loss_ce'] > 0
    losses['loss_ce'].backward()
    assert head.fpn_bottleneck.proj_in.weight.grad is not None


def test_errors_and_registry():
    with pytest.raises(ValueError, match='gnconv_cfg'):
        _head(gnconv_cfg=dict(kernel_size=7))
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    head = MODELS.build(
        dict(
            type='hornet_mm.GNUPerHead',
            in_channels=IN_CHANNELS,
            in_index=[0, 1, 2, 3],
            channels=8,
            num_classes=3))
    assert type(head) is GNUPerHead
