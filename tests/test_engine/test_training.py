"""add_default_training_hooks: what tools/train.py adds to a config."""
from mmengine.config import Config

from hornet_mm.engine import add_default_training_hooks


def _hooks(**cfg):
    cfg = Config(cfg)
    add_default_training_hooks(cfg)
    return cfg.default_hooks


def test_defaults_added_and_checkpoint_hook_replaced():
    hooks = _hooks(
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', max_keep_ckpts=3),
            logger=dict(type='LoggerHook')))
    assert hooks.checkpoint == dict(
        type='hornet_mm.CheckpointHook', max_keep_ckpts=3, interval=1)
    assert hooks.logger == dict(type='LoggerHook')
    assert hooks.finite_loss == dict(type='hornet_mm.FiniteLossHook')
    assert hooks.random_state == dict(type='hornet_mm.RandomStateHook')
    assert hooks.preemption == dict(type='hornet_mm.PreemptionHook')
    assert hooks.resume_check == dict(type='hornet_mm.ResumeCheckHook')
    # a config without default_hooks gets them all
    assert set(_hooks()) == {
        'checkpoint', 'finite_loss', 'random_state', 'preemption',
        'resume_check'
    }


def test_settings_without_type_get_the_default_hook():
    hooks = _hooks(
        default_hooks=dict(preemption=dict(requeue_signals=['SIGUSR1'])))
    assert hooks.preemption == dict(
        type='hornet_mm.PreemptionHook', requeue_signals=['SIGUSR1'])


def test_switched_off_kept_as_set_or_listed_in_custom_hooks():
    hooks = _hooks(
        default_hooks=dict(
            checkpoint=dict(type='mmengine.CheckpointHook', interval=2),
            finite_loss=None,
            random_state=dict(type='hornet_mm.RandomStateHook')),
        custom_hooks=[])
    assert hooks.checkpoint == dict(type='mmengine.CheckpointHook', interval=2)
    assert 'finite_loss' not in hooks
    hooks = _hooks(custom_hooks=[dict(type='hornet_mm.FiniteLossHook')])
    assert 'finite_loss' not in hooks and 'random_state' in hooks
