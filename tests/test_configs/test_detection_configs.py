"""Every detection config builds and follows the published recipes."""
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from helpers import REPO
from hornet_mm.models import HorNet

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'detection', '*.py')))

# Cascade Mask R-CNN 3x (published): lr, decay rate, drop path, params (M)
CASCADE = {
    't': (2e-4, 0.7, 0.4, 80), 't-gf': (2e-4, 0.7, 0.4, 80),
    's': (2e-4, 0.7, 0.6, 107), 's-gf': (2e-4, 0.7, 0.6, 108),
    'b': (2e-4, 0.8, 0.7, 144), 'b-gf': (2e-4, 0.8, 0.7, 146),
    'l': (1e-4, 0.7, 0.7, 251), 'l-gf': (1e-4, 0.7, 0.7, 259),
}  # yapf: disable
ARCH = {'t': 'tiny', 's': 'small', 'b': 'base', 'l': 'large'}


def _name(path):
    return osp.splitext(osp.basename(path))[0]


def _build(cfg):
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    with torch.device('meta'):
        return MODELS.build(cfg.model)


def test_expected_configs_exist():
    names = {_name(p) for p in CONFIGS}
    for model in CASCADE:
        assert (f'cascade-mask-rcnn_hornet-{model}_fpn_4conv1fc-giou_'
                'ms-crop-3x_coco') in names
    for model in ('t', 't-gf', 's', 's-gf', 'b', 'b-gf'):
        for schedule in ('1x', 'ms-crop-3x'):
            assert f'mask-rcnn_hornet-{model}_fpn_{schedule}_coco' in names
    for neck in ('horfpn-7x7', 'horfpn-gf'):
        assert f'mask-rcnn_hornet-s_{neck}_1x_coco' in names


@pytest.mark.parametrize('model', list(CASCADE))
def test_cascade_recipe_and_params(model):
    lr, rate, drop_path, params = CASCADE[model]
    cfg = Config.fromfile(
        osp.join(
            REPO, 'configs', 'detection',
            f'cascade-mask-rcnn_hornet-{model}_fpn_4conv1fc-giou_'
            'ms-crop-3x_coco.py'))
    backbone = cfg.model.backbone
    size, _, gf = model.partition('-')
    expected_arch = ARCH[size] + ('-gf' if gf else '')
    if model == 'l-gf':  # published detection filters 24x13 / 12x7
        expected_arch = 'large-gf384'
    assert backbone.arch == expected_arch
    assert backbone.drop_path_rate == drop_path
    assert backbone.out_indices == (0, 1, 2, 3)
    assert not backbone.gap_before_final_norm
    opt = cfg.optim_wrapper
    assert opt.constructor == 'hornet_mm.HorNetLayerDecayOptimizerConstructor'
    assert (opt.optimizer.type, opt.optimizer.lr,
            opt.optimizer.weight_decay) == ('AdamW', lr, 0.05)
    assert opt.paramwise_cfg == dict(
        decay_rate=rate, decay_type='layer_wise', num_layers=12)
    assert cfg.train_cfg.max_epochs == 36
    assert cfg.param_scheduler[1].milestones == [27, 33]
    assert cfg.train_dataloader.batch_size * 8 == 16
    assert cfg.auto_scale_lr.base_batch_size == 16
    stds = [h.bbox_coder.target_stds for h in cfg.model.roi_head.bbox_head]
    assert stds == [[0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                    [0.033, 0.033, 0.067, 0.067]]
    for head in cfg.model.roi_head.bbox_head:
        assert (head.num_shared_convs, head.num_shared_fcs) == (4, 1)
        assert head.norm_cfg.type == 'SyncBN'
        assert head.reg_decoded_bbox
        assert (head.loss_bbox.type,
                head.loss_bbox.loss_weight) == ('GIoULoss', 10.0)
    pipeline = cfg.train_dataloader.dataset.pipeline
    (choice, ) = [t for t in pipeline if t.type == 'RandomChoice']
    first, second = choice.transforms
    assert [s[0] for s in first[0].scales] == list(range(480, 801, 32))
    assert [s[0] for s in second[0].scales] == [400, 500, 600]
    assert (second[1].crop_type, second[1].crop_size) == ('absolute_range',
                                                          (384, 600))
    detector = _build(cfg)
    count = sum(p.numel() for p in detector.parameters()) / 1e6
    assert abs(count - params) < 1.0, count


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_every_config_builds(path):
    cfg = Config.fromfile(path)
    assert 'hornet_mm' in cfg.custom_imports.imports
    detector = _build(cfg)
    assert type(detector.backbone) is HorNet
    if 'horfpn' in _name(path):
        assert type(detector.neck).__name__ == 'HorFPN'
    schedule = re.search(r'_(1x|ms-crop-3x)_coco$|-(\d+)e_synthetic-coco$',
                         _name(path))
    assert schedule, 'the name must state the schedule'
    epochs = {'1x': 12, 'ms-crop-3x': 36}.get(schedule[1]) or int(schedule[2])
    assert cfg.train_cfg.max_epochs == epochs


def test_decoder_study_recipe():
    for name, mixer in [('fpn', None), ('horfpn-7x7', 'DW'),
                        ('horfpn-gf', 'GF')]:
        cfg = Config.fromfile(
            osp.join(REPO, 'configs', 'detection',
                     f'mask-rcnn_hornet-s_{name}_1x_coco.py'))
        assert cfg.model.backbone.arch == 'small'
        assert cfg.model.backbone.drop_path_rate == 0.6
        assert cfg.optim_wrapper.optimizer.lr == 1e-4
        assert cfg.optim_wrapper.paramwise_cfg == dict(
            decay_rate=0.95, decay_type='layer_wise', num_layers=6)
        assert cfg.param_scheduler[1].milestones == [8, 11]
        neck = _build(cfg).neck
        if mixer is not None:
            assert type(neck.fpn_convs[0].dwconv).__name__ == (
                'Conv2d' if mixer == 'DW' else 'GlobalLocalFilter')
