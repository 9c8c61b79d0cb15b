"""RandomStateHook: the states taken at the end of an epoch come back at the
start of the next one, in the same run and after a resume."""
import random

import numpy as np
import torch

import hornet_mm.engine  # noqa: F401  registers the hooks
from hornet_mm.engine import RandomStateHook


def _draws():
    return (random.random(), float(np.random.rand()), float(torch.rand(())))


class _Runner:

    def __init__(self, epoch):
        self.epoch = epoch
        self.warnings = []
        self.logger = self

    def warning(self, message):
        self.warnings.append(message)


def test_states_restored_at_the_next_epoch():
    hook = RandomStateHook()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    hook.after_train_epoch(_Runner(epoch=0))  # end of the first epoch
    expected = _draws()
    _draws()  # what validation would draw in between
    hook.before_train_epoch(_Runner(epoch=1))
    assert _draws() == expected
    # an epoch other than the next one: left alone
    hook.before_train_epoch(_Runner(epoch=3))
    assert _draws() != expected


def test_states_travel_in_a_safely_loadable_checkpoint(tmp_path):
    hook = RandomStateHook()
    np.random.seed(7)
    hook.after_train_epoch(_Runner(epoch=4))
    expected = _draws()
    checkpoint = {}
    hook.before_save_checkpoint(_Runner(epoch=5), checkpoint)
    torch.save(checkpoint, tmp_path / 'c.pth')
    loaded = torch.load(tmp_path / 'c.pth', weights_only=True)

    resumed = RandomStateHook()
    resumed.after_load_checkpoint(_Runner(epoch=5), loaded)
    resumed.before_train_epoch(_Runner(epoch=5))
    assert _draws() == expected


def test_states_of_another_world_size_not_restored():
    hook = RandomStateHook()
    hook.after_train_epoch(_Runner(epoch=0))
    checkpoint = {}
    hook.before_save_checkpoint(_Runner(epoch=1), checkpoint)
    checkpoint['hornet_mm_rng_state']['ranks'] *= 2  # saved by 2 processes
    resumed, runner = RandomStateHook(), _Runner(epoch=1)
    resumed.after_load_checkpoint(runner, checkpoint)
    assert 'random states of 2 processes' in runner.warnings[0]
    state = _draws()
    resumed.before_train_epoch(runner)
    assert _draws() != state  # nothing set: the generators went on


def test_resumed_run_repeats_the_uninterrupted_one(make_runner, tmp_path):
    draws = {}

    def recording_runner(name, **kwargs):
        runner = make_runner(
            work_dir=str(tmp_path / name),
            custom_hooks=[dict(type='hornet_mm.RandomStateHook')],
            **kwargs)
        real = runner.model.forward

        def forward(inputs, labels=None, mode='tensor'):
            draws.setdefault(name, []).append(
                (runner.epoch, float(torch.rand(()))))
            return real(inputs, labels, mode)

        runner.model.forward = forward
        return runner

    recording_runner(
        'whole', train_cfg=dict(by_epoch=True, max_epochs=3)).train()
    recording_runner(
        'first', train_cfg=dict(by_epoch=True, max_epochs=1)).train()
    recording_runner(
        'rest',
        train_cfg=dict(by_epoch=True, max_epochs=3),
        load_from=str(tmp_path / 'first' / 'epoch_1.pth'),
        resume=True).train()
    whole = [d for epoch, d in draws['whole'] if epoch >= 1]
    assert len(whole) == 8
    assert [d for _, d in draws['rest']] == whole
