"""FiniteLossHook: the first NaN / inf loss stops training with a message
naming where; finite losses and other outputs pass."""
import math

import pytest
import torch
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from hornet_mm.engine import FiniteLossHook


class _Hub:

    def __init__(self, last):
        self.last = last

    def get_info(self, key):
        return self.last if key == 'last_ckpt' else None


class _Runner:

    def __init__(self, loop, epoch=0, iteration=0, last=None):
        self.train_loop = loop
        self.epoch = epoch
        self.iter = iteration
        self.message_hub = _Hub(last)
        self.errors = []
        self.logger = self

    def error(self, message):
        self.errors.append(message)


def _epoch_loop(length):
    loop = EpochBasedTrainLoop.__new__(EpochBasedTrainLoop)
    loop.dataloader = [None] * length
    return loop


def test_finite_losses_pass():
    hook = FiniteLossHook()
    runner = _Runner(_epoch_loop(10))
    hook.after_train_iter(
        runner, 0, outputs=dict(loss=torch.tensor(1.5), acc=math.nan))
    hook.after_train_iter(runner, 1, outputs=None)
    assert not runner.errors


def test_nan_loss_named_with_epoch_and_iteration():
    hook = FiniteLossHook()
    runner = _Runner(
        _epoch_loop(10), epoch=2, iteration=23, last='work/epoch_2.pth')
    with pytest.raises(FloatingPointError) as info:
        hook.after_train_iter(
            runner,
            3,
            outputs=dict(
                loss_cls=torch.tensor(0.5),
                loss_bbox=torch.tensor([1.0, math.inf])))
    message = str(info.value)
    assert 'epoch 3, iteration 4/10 of the epoch (iteration 24 in all)' \
        in message
    assert 'loss_bbox=inf' in message and 'loss_cls' not in message
    assert 'the last checkpoint, work/epoch_2.pth, is kept' in message
    assert runner.errors == [message]


def test_iteration_based_loop_and_chosen_keys():
    loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    runner = _Runner(loop, iteration=99)
    hook = FiniteLossHook(keys=['total'])
    hook.after_train_iter(runner, 0, outputs=dict(loss=math.nan, total=1.0))
    with pytest.raises(
            FloatingPointError,
            match=r'at iteration 100: total=nan\. .*no checkpoint'):
        hook.after_train_iter(runner, 0, outputs=dict(total=math.nan))
