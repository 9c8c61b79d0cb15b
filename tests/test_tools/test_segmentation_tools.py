"""Segmentation configs through the tools: every recipe trains with --amp
(SyncBN heads in one CPU process), and mmseg's own tools run hornet_mm
configs through ``custom_imports``."""
import glob
import os.path as osp
from types import SimpleNamespace

import mmseg
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from helpers import REPO, load_tool, run_python
from hornet_mm.datasets.synthetic import make_ade_style

pytestmark = pytest.mark.long  # see setup.cfg

SEG = osp.join(REPO, 'configs', 'segmentation')
RECIPES = sorted(
    p for p in glob.glob(osp.join(SEG, '*.py')) if 'synthetic' not in p)
NANO = osp.join(SEG, 'hornet-nano_upernet_1xb8-2k_synthetic-ade-128x128.py')
MMSEG_TOOLS = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('ade')
    make_ade_style(str(root), num_train=8, num_val=3)
    return root


@pytest.mark.parametrize('path', RECIPES, ids=osp.basename)
def test_recipe_trains_a_step_with_amp(path, tmp_path):
    """``tools/train.py --amp`` applied to the recipe, then one optimiser
    step of the full-size model (SyncBN, decay, clipping) on two 64 x 64
    crops: finite losses, every trainable part updated."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    cfg = Config.fromfile(path)
    args = SimpleNamespace(
        launcher='none',
        config=path,
        work_dir=str(tmp_path),
        no_validate=True,
        amp=True,
        resume=None,
        auto_scale_lr=False,
        no_pin_memory=True,
        no_persistent_workers=True)
    cfg = load_tool('tools/train.py').merge_args(cfg, args)
    assert cfg.optim_wrapper.type == 'hornet_mm.AmpOptimWrapper'
    cfg.model.backbone.init_cfg = None
    cfg.model.data_preprocessor.size = (64, 64)
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    norms = {type(m).__name__ for m in model.decode_head.modules()}
    assert 'SyncBatchNorm' in norms
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    gen = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(2):
        sample = SegDataSample(
            metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, 150, (1, 64, 64), generator=gen))
        samples.append(sample)
    data = dict(
        inputs=[
            torch.randint(
                0, 256, (3, 64, 64), dtype=torch.uint8, generator=gen)
            for _ in range(2)
        ],
        data_samples=samples)
    before = {
        n: p.detach().clone()
        for n, p in model.named_parameters() if p.requires_grad
    }
    model.train()
    losses = model.train_step(data, optim)
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert 'decode.loss_ce' in losses and 'aux.loss_ce' in losses
    changed = {
        n
        for n, p in model.named_parameters()
        if p.requires_grad and not torch.equal(p.detach(), before[n])
    }
    for part in ('backbone.stages.3', 'decode_head.fpn_bottleneck',
                 'auxiliary_head.conv_seg'):
        assert any(n.startswith(part) for n in changed), part


def _options(root):
    return [
        f'train_dataloader.dataset.data_root={root}/',
        f'val_dataloader.dataset.data_root={root}/',
        f'test_dataloader.dataset.data_root={root}/',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
    ]


def test_mmseg_own_tools(data_root, tmp_path):
    run_python(
        osp.join(MMSEG_TOOLS,
                 'train.py'), NANO, '--work-dir', tmp_path, '--cfg-options',
        *_options(data_root), 'train_cfg.max_iters=4',
        'train_cfg.val_interval=4', 'default_hooks.checkpoint.interval=4')
    checkpoint = tmp_path / 'iter_4.pth'
    assert checkpoint.is_file()
    log = run_python(
        osp.join(MMSEG_TOOLS, 'test.py'), NANO, checkpoint, '--work-dir',
        tmp_path / 'test', '--cfg-options', *_options(data_root))
    assert 'mIoU' in log and 'ground' in log
