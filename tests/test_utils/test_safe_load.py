"""mmengine checkpoints load with torch.load's safe mode (torch >= 2.6).

A real mmengine Runner trains a small HorNet for a few iterations, saves a
checkpoint, and a second Runner resumes from it; ``load_from`` and
``init_cfg=dict(type='Pretrained')`` read the same file. Unpickling stays
closed to anything but the types mmengine checkpoints hold.
"""
import os
import pickle
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import hornet_mm  # noqa: F401  (installs the allow-list)
from hornet_mm.models import HorNet

TORCH_SAFE_BY_DEFAULT = tuple(
    int(v) for v in torch.__version__.split('+')[0].split('.')[:2]) >= (2, 6)
TINY = dict(
    base_dim=8,
    depths=[1, 1, 1, 1],
    orders=[2, 2, 3, 3],
    dw_cfg=[dict(type='DW', kernel_size=7)] * 2 +
    [dict(type='GF', h=2, w=2)] * 2)


class ToyClassifier(BaseModel):

    def __init__(self):
        super().__init__()
        self.backbone = HorNet(TINY)
        self.head = nn.Linear(64, 2)

    def forward(self, inputs, labels=None, mode='tensor'):
        logits = self.head(self.backbone(inputs)[0])  # default_collate
        if mode == 'loss':
            return dict(loss=nn.functional.cross_entropy(logits, labels))
        return logits


class ToyData(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        gen = torch.Generator().manual_seed(idx)
        return dict(
            inputs=torch.randn(3, 32, 32, generator=gen),
            labels=torch.tensor(idx % 2))


def _runner(work_dir, max_iters, **kwargs):
    return Runner(
        model=ToyClassifier(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyData(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=4,
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        param_scheduler=dict(
            type='LinearLR', start_factor=0.1, by_epoch=False, end=4),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        default_scope='mmengine',
        **kwargs)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('safe_load')
    runner = _runner(work_dir, max_iters=4)
    runner.train()
    ckpt = work_dir / 'iter_4.pth'
    assert ckpt.exists()
    return work_dir, ckpt


def test_checkpoint_needs_more_than_plain_weights(trained):
    """Without hornet_mm the installed torch refuses mmengine checkpoints."""
    _, ckpt = trained
    code = ('import pickle, sys, torch\n'
            'try:\n'
            f'    torch.load({str(ckpt)!r}, map_location="cpu")\n'
            'except pickle.UnpicklingError as e:\n'
            '    print("REFUSED", e)\n'
            'else:\n'
            '    print("LOADED")\n')
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    if TORCH_SAFE_BY_DEFAULT:
        assert out.startswith('REFUSED')
        assert 'HistoryBuffer' in out or 'numpy' in out
    else:
        assert out.startswith('LOADED')


def test_resume_continues_from_checkpoint(trained):
    work_dir, ckpt = trained
    runner = _runner(work_dir, max_iters=6, resume=True)
    runner.train()
    assert runner.iter == 6
    assert runner.message_hub.get_info('iter') == 5
    history = runner.message_hub.get_scalar('train/loss')
    assert len(history.data[0]) == 6  # 4 logged before the kill + 2 after


def test_load_from_and_pretrained_init(trained, tmp_path):
    _, ckpt = trained
    state = torch.load(ckpt, map_location='cpu')['state_dict']
    runner = _runner(tmp_path, max_iters=1, load_from=str(ckpt))
    runner.load_or_resume()
    loaded = runner.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())

    backbone = HorNet(
        TINY,
        init_cfg=dict(
            type='Pretrained', checkpoint=str(ckpt), prefix='backbone.'))
    backbone.init_weights()
    torch.testing.assert_close(backbone.stages[2][0].gamma1.detach(),
                               state['backbone.stages.2.0.gamma1'])


class _Exploit:

    def __reduce__(self):
        return (os.system, ('echo pwned', ))


def test_arbitrary_objects_are_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _Exploit()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, map_location='cpu', weights_only=True)
    if TORCH_SAFE_BY_DEFAULT:
        with pytest.raises(pickle.UnpicklingError):
            torch.load(path, map_location='cpu')
