"""A two-parameter model trained by a real mmengine ``Runner`` in a second,
for the hooks' unit tests."""
import uuid

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out - labels)**2).mean())
        return out


class ToyDataset(torch.utils.data.Dataset):
    metainfo = dict()

    def __init__(self, num=8):
        gen = torch.Generator().manual_seed(0)
        self.inputs = torch.rand(num, 2, generator=gen)
        self.labels = self.inputs.sum(1, keepdim=True)

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, index):
        return dict(inputs=self.inputs[index], labels=self.labels[index])


@pytest.fixture
def make_runner(tmp_path):
    """``make_runner(**overrides)``: a Runner training :class:`ToyModel` for
    two epochs of four iterations in ``tmp_path / 'work'``, with hornet_mm's
    CheckpointHook."""

    def make(**overrides):
        cfg = dict(
            model=ToyModel(),
            work_dir=str(tmp_path / 'work'),
            experiment_name=f'toy_{uuid.uuid4().hex}',
            train_dataloader=dict(
                dataset=ToyDataset(),
                sampler=dict(type='DefaultSampler', shuffle=True),
                collate_fn=dict(type='default_collate'),
                batch_size=2,
                num_workers=0),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
            train_cfg=dict(by_epoch=True, max_epochs=2),
            default_hooks=dict(
                checkpoint=dict(type='hornet_mm.CheckpointHook', interval=1)),
            randomness=dict(seed=0),
            default_scope='mmengine')
        cfg.update(overrides)
        return Runner(**cfg)

    return make
