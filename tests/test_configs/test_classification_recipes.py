"""Every classification config against the published ImageNet recipes.

The expected values are the published ones (HORNET_SPEC.md, "Recipes"),
written out here, not read from the configs' bases. Batch size and learning
rate are checked as the runner will use them: the per-GPU batch of the
dataloader, the total batch from the file name, and the lr after mmengine's
automatic scaling.
"""
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from helpers import REPO
from hornet_mm.models import HorNet

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'hornet', '*.py')))
NAME = re.compile(r'^hornet-(?P<model>[a-z0-9-]+?)(_in21k-pre)?'
                  r'(_(?P<gpus>\d+)xb(?P<batch>\d+))?_(?P<data>[a-z0-9-]+)$')

# model: (drop path, grad clip, RandAugment magnitude)
IN1K_FROM_SCRATCH = {
    'tiny': (0.2, 100.0, 9),
    'tiny-gf': (0.2, 1.0, 9),
    'small': (0.4, 5.0, 9),
    'small-gf': (0.4, 1.0, 12),
    'base': (0.5, 5.0, 9),
    'base-gf': (0.5, 1.0, 15),
}
# Keys of the 0.x config format, which mmengine silently ignores.
LEGACY_KEYS = ('data', 'optimizer', 'optimizer_config', 'lr_config', 'runner',
               'evaluation', 'checkpoint_config', 'log_config',
               'samples_per_gpu', 'workers_per_gpu')


def _name(path):
    return osp.splitext(osp.basename(path))[0]


def _effective_lr(cfg, total_batch):
    lr = cfg.optim_wrapper.optimizer.lr
    scale = cfg.get('auto_scale_lr') or {}
    if scale.get('enable', False):
        lr = lr * total_batch / scale['base_batch_size']
    return lr


def test_all_recipes_have_configs():
    names = {_name(p) for p in CONFIGS}
    for model in IN1K_FROM_SCRATCH:
        assert any(
            n.startswith(f'hornet-{model}_8xb') and n.endswith('_in1k')
            for n in names), model
    for evaluated in ('hornet-large_in21k-pre_in1k',
                      'hornet-large-gf_in21k-pre_in1k',
                      'hornet-base-gf384_in1k-384px',
                      'hornet-large-gf384_in21k-pre_8xb64_in1k-384px'):
        assert evaluated in names


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_config_names_batch_and_legacy_keys(path):
    match = NAME.match(_name(path))
    assert match, f'{_name(path)} does not follow mmpretrain naming'
    cfg = Config.fromfile(path)
    for key in LEGACY_KEYS:
        assert key not in cfg, f'0.x key {key!r} would be ignored'
    if match['batch']:
        assert cfg.train_dataloader.batch_size == int(match['batch'])


@pytest.mark.parametrize('model', list(IN1K_FROM_SCRATCH))
def test_in1k_recipe(model):
    (path, ) = [
        p for p in CONFIGS
        if re.match(rf'hornet-{model}_\d+xb\d+_in1k$', _name(p))
    ]
    match = NAME.match(_name(path))
    gpus, batch = int(match['gpus']), int(match['batch'])
    cfg = Config.fromfile(path)
    drop_path, clip, magnitude = IN1K_FROM_SCRATCH[model]

    assert cfg.model.backbone.type == 'hornet_mm.HorNet'
    assert cfg.model.backbone.arch == model
    assert cfg.model.backbone.drop_path_rate == drop_path
    # published lr 4e-3 for 4096 images, scaled linearly to the real batch
    assert _effective_lr(cfg, gpus * batch) == pytest.approx(4e-3 * gpus *
                                                             batch / 4096)
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.weight_decay, opt.eps) == ('AdamW', 0.05, 1e-8)
    assert cfg.optim_wrapper.clip_grad.max_norm == clip
    assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 0.0
    assert cfg.optim_wrapper.paramwise_cfg.bias_decay_mult == 0.0

    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end, warmup.by_epoch) == ('LinearLR', 20, True)
    assert warmup.convert_to_iter_based
    assert (cosine.type, cosine.begin, cosine.end,
            cosine.eta_min) == ('CosineAnnealingLR', 20, 300, 1e-6)
    assert cfg.train_cfg.max_epochs == 300

    augments = {a.type: a.alpha for a in cfg.model.train_cfg.augments}
    assert augments == {'Mixup': 0.8, 'CutMix': 1.0}
    assert cfg.model.head.loss.label_smooth_val == 0.1
    (ema, ) = [h for h in cfg.custom_hooks if h.type == 'EMAHook']
    assert ema.momentum == pytest.approx(1 - 0.9999)

    train = {s.type: s for s in cfg.train_dataloader.dataset.pipeline}
    assert train['RandomResizedCrop'].scale == 224
    assert train['RandomResizedCrop'].interpolation == 'bicubic'
    assert train['RandAugment'].magnitude_level == magnitude
    assert train['RandAugment'].magnitude_std == 0.5
    assert train['RandomErasing'].erase_prob == 0.25
    test = {s.type: s for s in cfg.test_dataloader.dataset.pipeline}
    assert (test['ResizeEdge'].scale, test['ResizeEdge'].interpolation,
            test['CenterCrop'].crop_size) == (256, 'bicubic', 224)


def test_large_gf384_finetune_recipe():
    path = osp.join(REPO, 'configs', 'hornet',
                    'hornet-large-gf384_in21k-pre_8xb64_in1k-384px.py')
    cfg = Config.fromfile(path)
    assert cfg.model.backbone.arch == 'large-gf384'
    assert cfg.model.backbone.drop_path_rate == 0.4
    assert not (cfg.model.get('train_cfg') or {}).get('augments')
    assert _effective_lr(cfg, 8 * 64) == pytest.approx(5e-5)
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-8
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.7
    assert cfg.train_cfg.max_epochs == 30
    assert [h.type for h in cfg.custom_hooks] == ['EMAHook']
    test = {s.type: s for s in cfg.test_dataloader.dataset.pipeline}
    assert test['Resize'].scale == 384 and 'CenterCrop' not in test

    # the layer decay reaches the backbone's published layer ids
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    by_param = {
        id(p): g
        for g in wrapper.optimizer.param_groups
        for p in g['params']
    }
    named = dict(model.named_parameters())

    def scale(name):
        return by_param[id(named[name])]['lr'] / 5e-5

    assert scale('head.fc.weight') == pytest.approx(1.0)
    assert scale('backbone.stages.3.0.gamma1') == pytest.approx(0.7)
    assert scale('backbone.stages.2.17.pwconv1.weight') == pytest.approx(
        0.7**2)
    assert scale('backbone.stages.0.0.pwconv1.weight') == pytest.approx(
        0.7**12)
    assert scale('backbone.downsample_layers.0.0.weight') == pytest.approx(
        0.7**13)
    assert by_param[id(
        named['backbone.stages.1.0.gamma1'])]['weight_decay'] == 0.0


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_config_builds(path):
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    assert type(model.backbone) is HorNet
