"""Every segmentation config builds and follows the published recipes.

Expected values are the published ADE20K UperNet table (HORNET_SPEC.md and
the HorNet release's segmentation README): parameter counts of the whole
segmentor (auxiliary head included, as the release's tool counted them).
"""
import glob
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS, init_default_scope

from helpers import REPO, load_tool

SEG = osp.join(REPO, 'configs', 'segmentation')
CONFIGS = sorted(glob.glob(osp.join(SEG, '*.py')))

# model: (config, crop, stride, decay rate, num_layers, drop path,
#         grad clip max_norm or None, params (M))
RECIPES = {
    't': ('hornet-tiny_upernet_8xb2-160k_ade20k-512x512', 512, 341, 0.9, 6,
          0.4, None, 52),
    't-gf': ('hornet-tiny-gf_upernet_8xb2-160k_ade20k-512x512', 512, 341,
             0.9, 6, 0.4, 1, 55),
    's': ('hornet-small_upernet_8xb2-160k_ade20k-512x512', 512, 341, 0.9, 12,
          0.3, None, 81),
    's-gf': ('hornet-small-gf_upernet_8xb2-160k_ade20k-512x512', 512, 341,
             0.9, 12, 0.3, 1, 85),
    'b': ('hornet-base_upernet_8xb2-160k_ade20k-512x512', 512, 341, 0.9, 12,
          0.4, None, 121),
    'b-gf': ('hornet-base-gf_upernet_8xb2-160k_ade20k-512x512', 512, 341, 0.9,
             12, 0.5, 1, 126),
    'l': ('hornet-large-in21k-pre_upernet_8xb2-160k_ade20k-640x640', 640, 426,
          0.8, 12, 0.4, None, 232),
    'l-gf': ('hornet-large-gf-in21k-pre_upernet_8xb2-160k_ade20k-640x640',
             640, 426, 0.8, 12, 0.4, 0.1, 239),
}  # yapf: disable
WIDTH = {'t': 64, 's': 96, 'b': 128, 'l': 192}
HEAD_STUDY = {
    'hornet-small_gnuper-7x7_8xb2-160k_ade20k-512x512':
    (dict(type='DW', kernel_size=7), None),
    'hornet-small_gnuper-gf_8xb2-160k_ade20k-512x512':
    (dict(type='GF', h=32, w=17), 0.1),
}


def _cfg(name):
    return Config.fromfile(osp.join(SEG, name + '.py'))


def _build(cfg, device='meta'):
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    model_cfg = cfg.model.copy()
    model_cfg.backbone.init_cfg = None
    with torch.device(device):
        return MODELS.build(model_cfg)


def test_expected_configs_exist():
    names = {osp.splitext(osp.basename(p))[0] for p in CONFIGS}
    assert {r[0] for r in RECIPES.values()} <= names
    assert set(HEAD_STUDY) <= names


@pytest.mark.parametrize('model', list(RECIPES))
def test_recipe_and_params(model):
    name, crop, stride, rate, num_layers, drop_path, clip, params = \
        RECIPES[model]
    cfg = _cfg(name)
    size, _, gf = model.partition('-')
    width = WIDTH[size]

    backbone = cfg.model.backbone
    assert backbone.type == 'hornet_mm.HorNet'
    assert backbone.drop_path_rate == drop_path
    assert backbone.out_indices == (0, 1, 2, 3)
    assert backbone.init_cfg.type == 'Pretrained'
    assert backbone.init_cfg.prefix == 'backbone.'
    assert ('in22k' in backbone.init_cfg.checkpoint) == (size == 'l')

    opt = cfg.optim_wrapper
    assert opt.constructor == 'hornet_mm.HorNetLayerDecayOptimizerConstructor'
    assert opt.optimizer.type == 'AdamW'
    assert (opt.optimizer.lr, opt.optimizer.weight_decay,
            opt.optimizer.betas) == (1e-4, 0.05, (0.9, 0.999))
    assert opt.paramwise_cfg == dict(
        decay_rate=rate, decay_type='stage_wise', num_layers=num_layers)
    if clip is None:
        assert opt.get('clip_grad') is None
    else:
        assert opt.clip_grad == dict(max_norm=clip, norm_type=2)

    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.train_dataloader.batch_size * 8 == 16
    assert cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.model.data_preprocessor.size == (crop, crop)
    assert cfg.model.test_cfg == dict(
        mode='slide', crop_size=(crop, crop), stride=(stride, stride))
    crops = [
        t for t in cfg.train_dataloader.dataset.pipeline
        if t.type == 'RandomCrop'
    ]
    assert crops[0].crop_size == (crop, crop)
    assert cfg.train_dataloader.dataset.type == 'hornet_mm.ADE20KDataset'

    head, aux = cfg.model.decode_head, cfg.model.auxiliary_head
    assert head.type == 'UPerHead'
    assert head.in_channels == [width, 2 * width, 4 * width, 8 * width]
    assert (head.channels, head.pool_scales, head.dropout_ratio,
            head.num_classes) == (512, (1, 2, 3, 6), 0.1, 150)
    assert (aux.type, aux.in_index, aux.in_channels, aux.channels,
            aux.loss_decode.loss_weight) == ('FCNHead', 2, 4 * width, 256, 0.4)
    assert head.norm_cfg.type == aux.norm_cfg.type == 'SyncBN'

    segmentor = _build(cfg)
    mixers = segmentor.backbone.arch_settings['dw_cfg']
    if gf:  # the published segmentation filters, whatever the size
        assert [(m['type'], m['h'], m['w'])
                for m in mixers[2:]] == [('GF', 24, 13), ('GF', 12, 7)]
    else:
        assert all(m == dict(type='DW', kernel_size=7) for m in mixers)
    assert segmentor.backbone.arch_settings['base_dim'] == width
    count = sum(p.numel() for p in segmentor.parameters()) / 1e6
    assert abs(count - params) < 1, count


@pytest.mark.parametrize('name', list(HEAD_STUDY))
def test_head_study(name):
    mixer, clip = HEAD_STUDY[name]
    cfg = _cfg(name)
    assert cfg.model.backbone.arch == 'small'
    assert cfg.model.backbone.drop_path_rate == 0.3
    assert cfg.optim_wrapper.paramwise_cfg == dict(
        decay_rate=0.9, decay_type='stage_wise', num_layers=12)
    assert cfg.optim_wrapper.get('clip_grad') == (
        None if clip is None else dict(max_norm=clip, norm_type=2))
    segmentor = _build(cfg)
    gnconv = segmentor.decode_head.fpn_bottleneck
    assert type(segmentor.decode_head).__name__ == 'GNUPerHead'
    assert gnconv.order == 2
    assert gnconv.proj_out is not None and not isinstance(
        gnconv.proj_out, torch.nn.Identity)
    if mixer['type'] == 'GF':
        assert tuple(gnconv.dwconv.complex_weight.shape[1:3]) == (32, 17)
    else:
        assert gnconv.dwconv.kernel_size == (7, 7)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.basename(p))
def test_tta_setting(path, tmp_path):
    """`tools/test.py --tta` turns every config into the ms + flip test."""
    tool = load_tool('tools/test.py')
    cfg = Config.fromfile(path)
    ckpt = tmp_path / 'model.pth'  # a checkpoint file; not loaded here
    torch.save({'state_dict': {}}, ckpt)
    ckpt = str(ckpt)
    args = SimpleNamespace(
        launcher='none',
        config=path,
        work_dir=None,
        checkpoint=ckpt,
        amp=False,
        show=False,
        show_dir=None,
        tta=True,
        no_pin_memory=False)
    cfg = tool.merge_args(cfg, args)
    assert cfg.model.type == 'SegTTAModel'
    steps = cfg.test_dataloader.dataset.pipeline[1].transforms
    if 'synthetic' in path:
        assert [t.scale_factor for t in steps[0]] == [0.75, 1.0, 1.25]
    else:  # mmseg 0.x's multi-scale test: ratios of the test scale
        long, short = (2560, 640) if '640x640' in path else (2048, 512)
        assert cfg.test_pipeline[1].scale == (long, short)
        assert [tuple(t.scale) for t in steps[0]
                ] == [(int(long * r), int(short * r))
                      for r in (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)]
        assert all(t.keep_ratio for t in steps[0])
    assert sorted(t.prob for t in steps[1]) == [0.0, 1.0]
    assert steps[2][0].type == 'hornet_mm.LoadSegAnnotations'


def test_poly_schedule_with_warmup_is_mmcv_1x_poly():
    """lr(i) = lr * warm-up(i) * (1 - i / 160000), mmcv 1.x's `poly`."""
    cfg = _cfg(RECIPES['t'][0])
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=1e-4)
    schedulers = [
        PARAM_SCHEDULERS.build(dict(s, optimizer=optimizer))
        for s in cfg.param_scheduler
    ]
    seen = {}
    for i in range(3001):
        seen[i] = optimizer.param_groups[0]['lr']
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()

    def mmcv_poly(i):  # mmcv 1.x PolyLrUpdaterHook with linear warm-up
        regular = 1e-4 * (1 - i / 160000)
        if i < 1500:
            return regular * (1 - (1 - i / 1500) * (1 - 1e-6))
        return regular

    for i in (0, 1, 750, 1499, 1500, 1501, 2000, 3000):
        assert seen[i] == pytest.approx(mmcv_poly(i), rel=1e-6), i


def test_gf_filters_resized_from_224_checkpoint(tmp_path, monkeypatch):
    """A 224 ImageNet T-GF checkpoint initialises the 24x13 / 12x7 filters
    of the segmentation T-GF by bilinear resize, with a warning."""
    import reference_hornet as ref
    from hornet_mm.models import HorNet
    from hornet_mm.models.layers import gnconv as gnconv_module
    logged = []
    monkeypatch.setattr(gnconv_module, 'print_log',
                        lambda msg, **kw: logged.append((msg, kw['level'])))
    torch.manual_seed(0)
    classifier = HorNet(arch='tiny-gf')
    state = {f'backbone.{k}': v for k, v in classifier.state_dict().items()}
    ckpt = tmp_path / 'hornet-tiny-gf_in1k.pth'
    torch.save(dict(state_dict=state), ckpt)

    cfg = _cfg(RECIPES['t-gf'][0])
    cfg.model.backbone.init_cfg.checkpoint = str(ckpt)
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    segmentor = MODELS.build(cfg.model)
    segmentor.backbone.init_weights()

    small = classifier.stages[2][0].gnconv.dwconv.complex_weight.detach()
    big = segmentor.backbone.stages[2][0].gnconv.dwconv.complex_weight
    assert tuple(small.shape[1:3]) == (14, 8)
    assert tuple(big.shape[1:3]) == (24, 13)
    torch.testing.assert_close(big.detach(),
                               ref.resize_complex_weight(small, (24, 13)))
    small3 = classifier.stages[3][1].gnconv.dwconv.complex_weight.detach()
    big3 = segmentor.backbone.stages[3][1].gnconv.dwconv.complex_weight
    torch.testing.assert_close(big3.detach(),
                               ref.resize_complex_weight(small3, (12, 7)))
    resized = [msg for msg, level in logged if msg.startswith('Resizing')]
    assert len(resized) == 18 + 2  # every GF block of stages 2 and 3
    assert all(level == 30 for _, level in logged)
    # the other weights load unchanged
    torch.testing.assert_close(
        segmentor.backbone.stages[1][0].gnconv.proj_in.weight.detach(),
        classifier.stages[1][0].gnconv.proj_in.weight.detach())


def test_segmentor_optimizer_stage_wise_scales():
    """Spot values of the stage-wise decay on the HorNet-T UperNet."""
    cfg = _cfg(RECIPES['t'][0])
    segmentor = _build(cfg, device='cpu')
    groups = build_optim_wrapper(segmentor,
                                 cfg.optim_wrapper).optimizer.param_groups
    lr = {n: g['lr'] for g in groups for n in g['param_names']}
    wd = {n: g['weight_decay'] for g in groups for n in g['param_names']}
    r, n = 0.9, 6
    assert lr['backbone.downsample_layers.0.0.weight'] == pytest.approx(
        1e-4 * r**(n + 1))
    assert lr['backbone.downsample_layers.3.1.weight'] == pytest.approx(
        1e-4 * r**(n + 1))
    assert lr['backbone.stages.0.1.gnconv.proj_in.weight'] == pytest.approx(
        1e-4 * r**n)
    assert lr['backbone.stages.2.17.pwconv1.weight'] == pytest.approx(
        1e-4 * r**(n - 2))
    assert lr['backbone.stages.3.0.gamma1'] == pytest.approx(1e-4 * r**(n - 3))
    assert lr['decode_head.fpn_bottleneck.conv.weight'] == pytest.approx(1e-4)
    assert lr['auxiliary_head.conv_seg.weight'] == pytest.approx(1e-4)
    assert wd['decode_head.fpn_bottleneck.conv.weight'] == 0.05
    assert wd['decode_head.fpn_bottleneck.bn.weight'] == 0.0
    assert wd['backbone.stages.2.3.gnconv.proj_in.bias'] == 0.0
