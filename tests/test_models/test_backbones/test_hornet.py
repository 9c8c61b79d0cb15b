"""HorNet backbone: architecture table, shapes, switches and layer depths.

Parameter counts are compared with the published table (HORNET_SPEC.md);
outputs are compared with the functional formulation in
``tests/reference_hornet.py`` in ``tests/test_apis/test_checkpoint.py``.
"""
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from hornet_mm.models import HorNet

# Published parameter counts (M) of the classification models, 1000 classes.
# large-gf384: the published table says 201.23M, which is what the filter
# sizes (24, 12) / (13, 7) of mmpretrain 1.2.0 give; the released model uses
# (24, 13) / (12, 7) (hornet_large_gf_img384 in the official hornet.py), which
# gives 201.81M. tests/test_reference_hornet.py checks both figures with the
# independent formulation.
PUBLISHED_PARAMS = {
    'tiny': 22.41,
    'tiny-gf': 22.99,
    'small': 49.53,
    'small-gf': 50.40,
    'base': 87.26,
    'base-gf': 88.42,
    'large': 194.54,
    'large-gf': 196.29,
    'large-gf384': 201.81,
}
ALL_ARCHS = [
    'tiny', 'tiny-gf', 'small', 'small-gf', 'base', 'base-gf', 'base-gf384',
    'large', 'large-gf', 'large-gf384'
]
TINY_ARCH = dict(
    base_dim=16,
    depths=[1, 2, 3, 1],
    orders=[2, 3, 4, 5],
    dw_cfg=[
        dict(type='DW', kernel_size=7),
        dict(type='DW', kernel_size=7),
        dict(type='GF', h=4, w=3),
        dict(type='GF', h=2, w=2),
    ])


def _classifier_params(arch: str) -> int:
    with torch.device('meta'):
        backbone = HorNet(arch, out_indices=(3, ))
        head = nn.Linear(backbone.dims[-1], 1000)
    return sum(p.numel() for m in (backbone, head) for p in m.parameters())


@pytest.mark.parametrize('arch', list(PUBLISHED_PARAMS))
def test_parameter_counts_match_published(arch):
    assert round(_classifier_params(arch) / 1e6, 2) == PUBLISHED_PARAMS[arch]


def test_short_aliases_are_the_same_arch():
    for short, long in [('t', 'tiny'), ('s-gf', 'small-gf'),
                        ('b-gf384', 'base-gf384'), ('l', 'large'),
                        ('l-gf384', 'large-gf384')]:
        assert HorNet.arch_zoo[short] == HorNet.arch_zoo[long]
    assert HorNet('T-GF').arch_settings == HorNet.arch_zoo['tiny-gf']


def test_384_archs_use_the_released_filter_sizes():
    for size in ('tiny', 'small', 'base', 'large'):
        arch, at_224 = HorNet.arch_zoo[f'{size}-gf384'], HorNet.arch_zoo[
            f'{size}-gf']
        gf = arch['dw_cfg'][2:]
        assert [(c['h'], c['w']) for c in gf] == [(24, 13), (12, 7)]
        # the 224 model with other filters: the same parameters otherwise
        assert {k: v for k, v in arch.items() if k != 'dw_cfg'} == \
            {k: v for k, v in at_224.items() if k != 'dw_cfg'}
        assert arch['dw_cfg'][:2] == at_224['dw_cfg'][:2]
    # 384 / 16 = 24 rows and 24 // 2 + 1 = 13 columns of rfft2 in stage 3
    assert (384 // 16, 384 // 16 // 2 + 1) == (24, 13)
    assert (384 // 32, 384 // 32 // 2 + 1) == (12, 7)


def test_unknown_arch_lists_valid_ones():
    with pytest.raises(ValueError) as err:
        HorNet('tinyy')
    for name in ('tiny', 'small-gf', 'large-gf384', 'b'):
        assert name in str(err.value)
    with pytest.raises(ValueError, match='exactly the keys'):
        HorNet(dict(base_dim=16, depths=[1, 1, 1, 1]))
    with pytest.raises(ValueError, match='4 entries'):
        HorNet(dict(TINY_ARCH, depths=[1, 1, 1]))


@pytest.mark.parametrize('arch', ALL_ARCHS)
@pytest.mark.parametrize('size', [(224, 224), (193, 257), (160, 96)])
def test_dense_output_shapes_every_arch(arch, size):
    model = HorNet(
        arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False).eval()
    height, width = size
    with torch.inference_mode():
        outs = model(torch.randn(1, 3, height, width))
    assert len(outs) == 4
    base = model.dims[0]
    for i, out in enumerate(outs):
        h, w = height // 4, width // 4
        for _ in range(i):
            h, w = h // 2, w // 2
        assert out.shape == (1, base * 2**i, h, w)
        assert torch.isfinite(out).all()


def test_classification_output_is_pooled_and_normed():
    model = HorNet(TINY_ARCH).eval()
    stage4 = {}
    model.stages[3].register_forward_hook(
        lambda module, args, out: stage4.setdefault('x', out))
    (pooled, ) = model(torch.randn(2, 3, 64, 96))
    assert pooled.shape == (2, 128)
    expected = nn.functional.layer_norm(stage4['x'].mean(
        (2, 3)), (128, ), model.norm3.weight, model.norm3.bias, 1e-6)
    torch.testing.assert_close(pooled, expected, rtol=1e-5, atol=1e-5)


def test_out_indices_negative_and_errors():
    model = HorNet(TINY_ARCH, out_indices=(-1, 1), gap_before_final_norm=False)
    assert model.out_indices == (3, 1)
    assert hasattr(model, 'norm3') and hasattr(model, 'norm1')
    assert not hasattr(model, 'norm0')
    with pytest.raises(ValueError, match='out_indices'):
        HorNet(TINY_ARCH, out_indices=(4, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        HorNet(TINY_ARCH, frozen_stages=4)


@pytest.mark.parametrize('out_indices,bad', [((4, ), 4), ((0, -5), -5), (7, 7),
                                             ((1, 2, 3, 4), 4)])
def test_out_of_range_out_index_is_named(out_indices, bad):
    with pytest.raises(ValueError) as err:
        HorNet(TINY_ARCH, out_indices=out_indices)
    message = str(err.value)
    assert f'stage index {bad} does not exist' in message
    assert 'valid are 0..3 and -4..-1' in message


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2, 3])
def test_frozen_stages(frozen_stages):
    model = HorNet(
        TINY_ARCH,
        out_indices=(0, 1, 2, 3),
        frozen_stages=frozen_stages,
        gap_before_final_norm=False)
    assert model.train() is model
    for i in range(4):
        frozen = i <= frozen_stages
        parts = [
            model.downsample_layers[i], model.stages[i],
            getattr(model, f'norm{i}')
        ]
        for part in parts:
            assert all(p.requires_grad is not frozen
                       for p in part.parameters())
            assert all(m.training is not frozen for m in part.modules())
    # freezing survives a later train() call and frozen weights get no grad
    model.train()
    out = sum(o.sum() for o in model(torch.randn(1, 3, 64, 64)))
    if frozen_stages < 3:
        out.backward()
        assert model.stages[3][0].pwconv1.weight.grad is not None
    else:
        assert not out.requires_grad
    if frozen_stages >= 0:
        assert model.stages[0][0].pwconv1.weight.grad is None


def test_with_cp_gives_equal_outputs_and_gradients():
    torch.manual_seed(0)
    plain = HorNet(
        TINY_ARCH, out_indices=(0, 1, 2, 3), gap_before_final_norm=False)
    with torch.no_grad():  # make the layer scales matter
        for name, p in plain.named_parameters():
            if 'gamma' in name:
                p.fill_(0.5)
    ckpt = HorNet(
        TINY_ARCH,
        out_indices=(0, 1, 2, 3),
        with_cp=True,
        gap_before_final_norm=False)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    loss_plain = sum((o**2).mean() for o in plain(x))
    loss_ckpt = sum((o**2).mean() for o in ckpt(x))
    torch.testing.assert_close(loss_ckpt, loss_plain)
    loss_plain.backward()
    loss_ckpt.backward()
    for (name, p1), p2 in zip(plain.named_parameters(), ckpt.parameters()):
        assert p1.grad is not None, name
        torch.testing.assert_close(p2.grad, p1.grad, rtol=1e-5, atol=1e-6)


def test_drop_path_rates_rise_linearly():
    model = HorNet(TINY_ARCH, drop_path_rate=0.6)
    rates = [
        0.0 if isinstance(b.drop_path, nn.Identity) else b.drop_path.drop_prob
        for s in model.stages for b in s
    ]
    assert rates == pytest.approx([0.6 * i / 6 for i in range(7)])


def test_layer_scale_switch_and_init():
    model = HorNet(TINY_ARCH)
    block = model.stages[0][0]
    assert torch.equal(block.gamma1, torch.full((16, ), 1e-6))
    assert torch.equal(block.gamma2, torch.full((16, ), 1e-6))
    model = HorNet(TINY_ARCH, use_layer_scale=False)
    assert not any('gamma' in k for k in model.state_dict())


def test_bf16_autocast_forward_on_cpu():
    model = HorNet(
        TINY_ARCH, out_indices=(2, 3), gap_before_final_norm=False).eval()
    x = torch.randn(1, 3, 97, 131)
    with torch.autocast('cpu', dtype=torch.bfloat16), torch.no_grad():
        outs = model(x)
    ref_outs = model(x)
    for out, ref_out in zip(outs, ref_outs):
        assert out.shape == ref_out.shape
        assert torch.isfinite(out).all()


# Layer ids of the published layer-wise decay (HORNET_SPEC.md), hand-listed.
LAYER_WISE_CASES = [
    ('downsample_layers.0.0.weight', 0),
    ('downsample_layers.1.1.weight', 2),
    ('downsample_layers.2.0.bias', 3),
    ('downsample_layers.3.1.weight', 12),
    ('stages.0.1.gnconv.proj_in.weight', 1),
    ('stages.1.2.gamma1', 2),
    ('stages.2.0.norm1.weight', 3),
    ('stages.2.1.pwconv1.weight', 3),
    ('stages.2.2.pwconv1.weight', 4),
    ('stages.2.15.gnconv.dwconv.complex_weight', 10),
    ('stages.2.16.gnconv.pws.0.weight', 11),
    ('stages.2.17.gamma2', 11),
    ('stages.3.1.pwconv2.bias', 12),
    ('norm3.weight', 13),
]


@pytest.mark.parametrize('name,layer_id', LAYER_WISE_CASES)
def test_layer_wise_depth(name, layer_id):
    model = HorNet.__new__(HorNet)
    assert model.get_layer_depth('backbone.' + name,
                                 'backbone.') == (layer_id, 14)
    with_n6 = model.get_layer_depth(
        'backbone.' + name, 'backbone.', num_layers=6)
    # ids are fixed; only 'everything else' follows num_layers (N + 1)
    assert with_n6 == (layer_id if 'norm3' not in name else 7, 8)


def test_stage_wise_depth_and_non_backbone():
    model = HorNet.__new__(HorNet)
    kw = dict(prefix='backbone.', decay_type='stage_wise', num_layers=12)
    assert model.get_layer_depth('backbone.downsample_layers.3.1.weight',
                                 **kw) == (0, 14)
    for stage in range(4):
        assert model.get_layer_depth(f'backbone.stages.{stage}.0.gamma1',
                                     **kw) == (stage + 1, 14)
    assert model.get_layer_depth('neck.lateral_convs.0.conv.weight',
                                 **kw) == (13, 14)
    assert model.get_layer_depth('backbone.norm2.weight', **kw) == (13, 14)
    with pytest.raises(ValueError, match='decay_type'):
        model.get_layer_depth(
            'backbone.norm2.weight', 'backbone.', decay_type='block_wise')


def test_load_state_dict_shape_mismatch_names_key():
    model = HorNet(TINY_ARCH)
    state = HorNet(dict(TINY_ARCH, base_dim=32)).state_dict()
    with pytest.raises(ValueError) as err:
        model.load_state_dict(state, strict=False)
    assert 'downsample_layers.0.0.weight' in str(err.value)
    assert '(32, 3, 4, 4)' in str(err.value) and '(16, 3, 4, 4)' in str(
        err.value)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_build_through_library_scope(scope):
    from mmengine.registry import DefaultScope, init_default_scope
    registry = {
        'mmdet': 'mmdet.registry',
        'mmseg': 'mmseg.registry',
        'mmpretrain': 'mmpretrain.registry'
    }[scope]
    models = __import__(registry, fromlist=['MODELS']).MODELS
    init_default_scope(scope)
    try:
        model = models.build(
            dict(type='hornet_mm.HorNet', arch='t-gf', out_indices=(0, 3)))
        assert type(model) is HorNet
        assert model.out_indices == (0, 3)
    finally:
        DefaultScope._instance_dict.pop(scope, None)


def test_mmpretrain_own_hornet_is_distinct():
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    theirs = MODELS.build(dict(type='HorNet', arch='tiny'))
    ours = MODELS.build(dict(type='hornet_mm.HorNet', arch='tiny'))
    assert type(theirs) is not HorNet
    assert type(ours) is HorNet


def test_import_does_not_import_mmdet_or_mmseg():
    code = ('import sys, hornet_mm, hornet_mm.models, hornet_mm.apis; '
            "print(sorted(m for m in ('mmdet', 'mmseg', 'mmpretrain') "
            'if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True,
                         check=True).stdout.strip()
    assert out == '[]'
