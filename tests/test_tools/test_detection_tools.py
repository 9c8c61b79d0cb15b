"""Detection configs through the tools: --amp, SyncBN in one CPU process, and
mmdet's own tools; a few iterations on a small generated COCO set."""
import os.path as osp

import mmdet
import pytest

from helpers import REPO, run_python, run_tool
from hornet_mm.datasets.synthetic import make_coco_style

pytestmark = pytest.mark.long  # see setup.cfg

NANO = osp.join(REPO, 'configs', 'detection',
                'mask-rcnn_hornet-nano_fpn_1xb4-12e_synthetic-coco.py')
CASCADE = osp.join(
    REPO, 'configs', 'detection',
    'cascade-mask-rcnn_hornet-t_fpn_4conv1fc-giou_ms-crop-3x_coco.py')
MMDET_TOOLS = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('coco')
    make_coco_style(str(root), num_train=8, num_val=4, progress=False)
    return root


def _options(root):
    ann = root / 'annotations' / 'instances_val2017.json'
    return [
        f'train_dataloader.dataset.data_root={root}/',
        f'val_dataloader.dataset.data_root={root}/',
        f'test_dataloader.dataset.data_root={root}/',
        f'val_evaluator.ann_file={ann}',
        f'test_evaluator.ann_file={ann}',
    ]


def test_amp_with_global_filter(data_root, tmp_path):
    log = run_tool('train.py', NANO,
                   '--amp', '--work-dir', tmp_path, '--cfg-options',
                   *_options(data_root), 'train_cfg.max_epochs=1',
                   'train_cfg.val_interval=1')
    assert 'bfloat16 autocast on the CPU' in log
    assert 'coco/bbox_mAP' in log and 'coco/segm_mAP' in log
    assert (tmp_path / 'epoch_1.pth').is_file()


def test_syncbn_cascade_config_in_one_cpu_process(data_root, tmp_path):
    """The published Cascade config (SyncBN box heads, ms-crop pipeline)
    trains in a single CPU process, with a small backbone to keep it fast."""
    config = tmp_path / 'cascade_small.py'
    config.write_text(
        f'_base_ = {CASCADE!r}\n'
        'model = dict(\n'
        '    backbone=dict(arch=dict(_delete_=True, base_dim=16,\n'
        '        depths=[1, 1, 1, 1],\n'
        '        orders=[2, 2, 3, 3], dw_cfg=[dict(type="DW")] * 2 +\n'
        '        [dict(type="GF", h=8, w=5)] * 2), init_cfg=None),\n'
        '    neck=dict(in_channels=[16, 32, 64, 128]))\n'
        'train_dataloader = dict(dataset=dict(metainfo=dict(\n'
        '    classes=("circle", "rectangle", "triangle", "cross"))))\n')
    ann = data_root / 'annotations' / 'instances_train2017.json'
    log = run_tool('train.py', config, '--work-dir', tmp_path / 'work',
                   '--no-validate', '--cfg-options',
                   f'train_dataloader.dataset.data_root={data_root}/',
                   f'train_dataloader.dataset.ann_file={ann}',
                   'train_dataloader.dataset.data_prefix.img=train2017/',
                   'train_dataloader.num_workers=0',
                   'train_dataloader.batch_size=2',
                   'train_dataloader.dataset.indices=4',
                   'train_cfg.max_epochs=1', 'param_scheduler.0.end=2')
    assert 'SyncBatchNorm' in log  # the heads really use SyncBN
    assert 'Epoch(train) [1][2/2]' in log


def test_mmdet_own_tools(data_root, tmp_path):
    run_python(
        osp.join(MMDET_TOOLS,
                 'train.py'), NANO, '--work-dir', tmp_path, '--cfg-options',
        *_options(data_root), 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=1')
    checkpoint = tmp_path / 'epoch_1.pth'
    assert checkpoint.is_file()
    log = run_python(
        osp.join(MMDET_TOOLS, 'test.py'), NANO, checkpoint, '--work-dir',
        tmp_path / 'test', '--cfg-options', *_options(data_root))
    assert 'coco/segm_mAP' in log
