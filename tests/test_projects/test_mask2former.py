"""projects/hornet_mask2former: every config builds with the parameter count
its README lists, the optimiser follows the recipe (layer-wise decay, no
weight decay on embeddings), the deformable attention takes mmcv's PyTorch
path on the CPU, and shortened embedded runs through tools/train.py and
tools/test.py score clearly above zero / chance with the libraries' metrics
(mask mAP, PQ, mIoU)."""
import glob
import json
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import import_modules_from_strings

from helpers import REPO, run_tool

PROJECT = osp.join(REPO, 'projects', 'hornet_mask2former')
CONFIGS = osp.join(PROJECT, 'configs')


def _readme_sizes():
    """``config name -> parameters (M)`` from the README's table."""
    with open(osp.join(PROJECT, 'README.md')) as f:
        text = f.read()
    rows = re.findall(r'^\| \[?`?([\w.-]+\.py)`?\]?[^|]*\|[^|]*\|\s*([\d.]+)',
                      text, re.M)
    return {name: float(size) for name, size in rows}


SIZES = _readme_sizes()


def _build(name):
    cfg = Config.fromfile(osp.join(CONFIGS, name))
    import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.default_scope)
    if cfg.default_scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    return MODELS.build(cfg.model), cfg


def test_readme_lists_every_config():
    configs = {
        osp.basename(path)
        for path in glob.glob(osp.join(CONFIGS, '*.py')) if 'nano' not in path
    }
    assert len(configs) == 24
    assert configs <= set(SIZES), sorted(configs - set(SIZES))


@pytest.mark.parametrize('name', sorted(SIZES))
def test_config_builds_with_the_listed_size(name):
    model, _ = _build(name)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    assert params == pytest.approx(SIZES[name], abs=0.006), name


def test_layer_decay_and_embeddings_without_weight_decay():
    from mmengine.optim import build_optim_wrapper
    model, cfg = _build('mask2former_hornet-t_8xb2-lsj-50e_coco.py')
    groups = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    by_name = {
        name: group
        for group in groups.param_groups
        for name in group['param_names']
    }
    assert set(by_name) == {
        n
        for n, p in model.named_parameters() if p.requires_grad
    }
    for name in ('panoptic_head.query_embed.weight',
                 'panoptic_head.query_feat.weight',
                 'panoptic_head.transformer_decoder.layers.0.ffn.layers.0.0'
                 '.weight'):
        if name not in by_name:
            continue
        group = by_name[name]
        decay = 0.0 if 'query' in name else 0.05
        assert group['weight_decay'] == decay, name
        assert group['lr'] == pytest.approx(1e-4), name
    level = [n for n in by_name if 'level_embed' in n]
    assert level and all(by_name[n]['weight_decay'] == 0.0 for n in level)
    # the published layer ids: stage 0 is layer 1 of 12, stage 3 layer 12;
    # lr = 1e-4 * 0.7 ** (13 - id)
    first = by_name['backbone.stages.0.0.gnconv.proj_in.weight']
    last = by_name['backbone.stages.3.0.gnconv.proj_in.weight']
    assert first['lr'] == pytest.approx(1e-4 * 0.7**12)
    assert last['lr'] == pytest.approx(1e-4 * 0.7**1)
    assert first['weight_decay'] == last['weight_decay'] == 0.05
    assert cfg.optim_wrapper.clip_grad.max_norm == 0.01


def test_deformable_attention_takes_the_pytorch_path_on_cpu(monkeypatch):
    import mmcv.ops.multi_scale_deform_attn as msda
    calls = []
    plain = msda.multi_scale_deformable_attn_pytorch

    def counted(*args, **kwargs):
        calls.append(args[0].device.type)
        return plain(*args, **kwargs)

    monkeypatch.setattr(msda, 'multi_scale_deformable_attn_pytorch', counted)
    model, _ = _build('mask2former_hornet-nano_1xb4-2k_synthetic-coco.py')
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 128, 128))
        model.panoptic_head.pixel_decoder(feats)
    # one call per encoder layer (2), all on the CPU tensors
    assert calls == ['cpu', 'cpu']


# ---------------------------------------------------------------------------
# embedded runs, shortened: the configs' schedules (milestones, poly end) are
# fixed in the files, so the first ITERS iterations follow the full runs
# (README: seed 0 after 500 of 2000 iterations, instance segm / bbox mAP
# 0.066 / 0.039, panoptic PQ 32.2 with stuff 96.7 and segm mAP 0.086, ADE20K
# mIoU 35.9; they repeat exactly here); about half
ITERS = 500
SEGM_MAP_AT_500 = 0.03
BBOX_MAP_AT_500 = 0.015
PQ_AT_500 = 25
PQ_ST_AT_500 = 80
MIOU_AT_500 = 18


def _train_and_test(tmp, config, root, *extra):
    config = osp.join(CONFIGS, config)
    options = [
        f'{loader}.dataset.data_root={root}/'
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ] + list(extra)
    work_dir = tmp / 'work'
    run_tool('train.py', config, '--work-dir', work_dir, '--no-validate',
             '--cfg-options', f'train_cfg.max_iters={ITERS}', *options)
    checkpoint = work_dir / f'iter_{ITERS}.pth'
    assert checkpoint.is_file()
    metrics = tmp / 'metrics.json'
    run_tool('test.py', config, checkpoint, '--work-dir', tmp / 'test',
             '--out', metrics, '--out-item', 'metrics', '--cfg-options',
             *options)
    return json.loads(metrics.read_text())


@pytest.mark.long  # see setup.cfg
def test_embedded_instance_segmentation(tmp_path):
    from hornet_mm.datasets.synthetic import make_coco_style
    root = tmp_path / 'data'
    make_coco_style(str(root), progress=False)
    ann = root / 'annotations' / 'instances_val2017.json'
    metrics = _train_and_test(
        tmp_path, 'mask2former_hornet-nano_1xb4-2k_synthetic-coco.py', root,
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}')
    assert metrics['coco/segm_mAP'] > SEGM_MAP_AT_500
    assert metrics['coco/bbox_mAP'] > BBOX_MAP_AT_500
    print(json.dumps(metrics))


@pytest.mark.long  # see setup.cfg
def test_embedded_panoptic_segmentation(tmp_path):
    from hornet_mm.datasets.synthetic import make_coco_panoptic_style
    root = tmp_path / 'data'
    make_coco_panoptic_style(str(root), progress=False)
    ann = root / 'annotations'
    evaluators = []
    for name in ('val_evaluator', 'test_evaluator'):
        evaluators += [
            f'{name}.0.ann_file={ann}/panoptic_val2017.json',
            f'{name}.0.seg_prefix={ann}/panoptic_val2017/',
            f'{name}.1.ann_file={ann}/instances_val2017.json'
        ]
    metrics = _train_and_test(
        tmp_path, 'mask2former_hornet-nano_1xb4-2k_synthetic-coco-panoptic.py',
        root, *evaluators)
    assert metrics['coco_panoptic/PQ'] > PQ_AT_500
    assert metrics['coco_panoptic/PQ_st'] > PQ_ST_AT_500
    # things enter the panoptic map later (no query is sure enough of a
    # thing at 500 iterations, PQ things 0; 17.0 after 2000): here they are
    # checked as instances
    assert metrics['coco/segm_mAP'] > SEGM_MAP_AT_500
    print(json.dumps(metrics))


@pytest.mark.long  # see setup.cfg
def test_embedded_semantic_segmentation(tmp_path):
    from hornet_mm.datasets.synthetic import make_ade_style
    root = tmp_path / 'data'
    make_ade_style(str(root))
    metrics = _train_and_test(
        tmp_path, 'mask2former_hornet-nano_1xb8-2k_synthetic-ade-128x128.py',
        root)
    # uniformly random labels score about 6.3 mIoU on this set (see
    # tests/test_tools/test_segmentation_pipeline.py)
    assert metrics['mIoU'] > MIOU_AT_500
    print(json.dumps(metrics))
