"""Layer-wise lr decay on a real HorNet Mask R-CNN, against the spec's rules.

The expected layer id of every parameter is derived here from its name with
the published table (HORNET_SPEC.md), independently of get_layer_depth.
"""
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from helpers import REPO


def expected_layer_id(name, decay_type, num_layers):
    match = re.match(r'backbone\.(downsample_layers|stages)\.(\d+)\.(\d+)',
                     name)
    if match is None:
        return num_layers + 1
    kind, stage, index = match[1], int(match[2]), int(match[3])
    if decay_type == 'stage_wise':
        return 0 if kind == 'downsample_layers' else stage + 1
    if kind == 'downsample_layers':
        return {0: 0, 1: 2, 2: 3, 3: 12}[stage]
    return {0: 1, 1: 2, 2: min(3 + index // 2, 11), 3: 12}[stage]


@pytest.fixture(scope='module')
def detector():
    from mmdet.registry import MODELS
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'detection',
                 'mask-rcnn_hornet-t_fpn_1x_coco.py'))
    init_default_scope('mmdet')
    return MODELS.build(cfg.model), cfg


@pytest.mark.parametrize('decay_type,rate,num_layers',
                         [('layer_wise', 0.7, 12), ('layer_wise', 0.95, 6),
                          ('stage_wise', 0.9, 12)])
def test_every_parameter_group(detector, decay_type, rate, num_layers,
                               monkeypatch):
    model, cfg = detector
    import hornet_mm.engine.layer_decay as module
    warnings = []
    monkeypatch.setattr(module, 'print_log',
                        lambda msg, **kw: warnings.append(msg))
    optim_cfg = cfg.optim_wrapper.copy()
    optim_cfg.paramwise_cfg = dict(
        decay_rate=rate, decay_type=decay_type, num_layers=num_layers)
    optimizer = build_optim_wrapper(model, optim_cfg).optimizer
    seen = set()
    for group in optimizer.param_groups:
        for param, name in zip(group['params'], group['param_names']):
            seen.add(name)
            layer_id = expected_layer_id(name, decay_type, num_layers)
            assert group['lr'] == pytest.approx(
                1e-4 * rate**(num_layers + 1 - layer_id)), name
            no_decay = param.ndim == 1 or name.endswith('.bias')
            assert group['weight_decay'] == (0.0 if no_decay else 0.05), name
    assert seen == {n for n, p in model.named_parameters() if p.requires_grad}
    # the published HorFPN recipe (N = 6) gives stage 3 a scale above 1
    above_one = decay_type == 'layer_wise' and num_layers < 11
    assert bool(warnings) == above_one
    if above_one:
        assert '[12]' in warnings[0] or '12]' in warnings[0]


def test_constructor_errors():
    import torch.nn as nn

    from hornet_mm.engine import HorNetLayerDecayOptimizerConstructor
    model = nn.Module()
    model.backbone = nn.Linear(2, 2)
    ctor = HorNetLayerDecayOptimizerConstructor(
        dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3)),
        dict(decay_rate=0.9))
    with pytest.raises(TypeError, match='get_layer_depth'):
        ctor(model)

    from hornet_mm.models import HorNet
    model.backbone = HorNet(
        dict(
            base_dim=8,
            depths=[1, 1, 1, 1],
            orders=[2, 2, 2, 2],
            dw_cfg=[dict(type='DW')] * 4))
    ctor = HorNetLayerDecayOptimizerConstructor(
        dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3)),
        dict(decay_rate=0.9, num_layer=12))
    with pytest.raises(KeyError, match='num_layer'):
        ctor(model)
    torch.manual_seed(0)


def test_custom_keys_multiply_decay_and_weight_decay():
    """Mask2Former's recipes: embeddings without weight decay, a multiplier
    on top of the layer-wise scale; the longest matching key wins."""
    import torch.nn as nn

    from hornet_mm.engine import HorNetLayerDecayOptimizerConstructor
    from hornet_mm.models import HorNet
    model = nn.Module()
    model.backbone = HorNet(
        dict(
            base_dim=8,
            depths=[1, 1, 1, 1],
            orders=[2, 2, 2, 2],
            dw_cfg=[dict(type='DW')] * 4))
    model.query_embed = nn.Embedding(5, 4)
    model.level_embed = nn.Embedding(3, 4)
    model.head = nn.Linear(4, 4)
    ctor = HorNetLayerDecayOptimizerConstructor(
        dict(
            type='OptimWrapper',
            optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)),
        dict(
            decay_rate=0.5,
            decay_type='stage_wise',
            num_layers=12,
            custom_keys={
                'embed': dict(decay_mult=0.0),
                'level_embed': dict(lr_mult=2.0),  # longer: wins
                'backbone.stages.3': dict(lr_mult=10.0, decay_mult=0.5),
            }))
    groups = ctor(model).optimizer.param_groups
    by_name = {
        name: group
        for group in groups
        for name in group['param_names']
    }
    # hand-computed: lr = 1e-3 * 0.5 ** (13 - id) * lr_mult
    assert by_name['query_embed.weight']['lr'] == pytest.approx(1e-3)
    assert by_name['query_embed.weight']['weight_decay'] == 0.0
    assert by_name['level_embed.weight']['lr'] == pytest.approx(2e-3)
    assert by_name['level_embed.weight']['weight_decay'] == 0.05
    assert by_name['head.weight']['weight_decay'] == 0.05
    stage3 = [n for n in by_name if n.startswith('backbone.stages.3')]
    assert stage3
    for name in stage3:  # stage-wise id 4
        group = by_name[name]
        assert group['lr'] == pytest.approx(1e-3 * 0.5**9 * 10.0), name
        no_decay = name.endswith('.bias') or model.get_parameter(
            name).ndim == 1
        assert group['weight_decay'] == (0.0 if no_decay else 0.025), name
    stage0 = [n for n in by_name if n.startswith('backbone.stages.0')]
    for name in stage0:  # stage-wise id 1, no key
        assert by_name[name]['lr'] == pytest.approx(1e-3 * 0.5**12), name

    bad = HorNetLayerDecayOptimizerConstructor(
        dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3)),
        dict(custom_keys={'embed': dict(decay_multi=0.0)}))
    with pytest.raises(KeyError, match='decay_multi'):
        bad(model)
