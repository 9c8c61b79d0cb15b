"""What ``tools/train.py`` adds to every training config."""
from mmengine.config import Config, ConfigDict

__all__ = ['add_default_training_hooks']

_DEFAULT_HOOKS = dict(
    finite_loss='hornet_mm.FiniteLossHook',
    random_state='hornet_mm.RandomStateHook',
    preemption='hornet_mm.PreemptionHook',
    resume_check='hornet_mm.ResumeCheckHook')


def add_default_training_hooks(cfg: Config) -> None:
    """Make hornet_mm's safety hooks part of a training config.

    mmengine's ``CheckpointHook`` (``type='CheckpointHook'``) becomes
    :class:`CheckpointHook` with the same settings, and
    ``default_hooks.finite_loss``, ``default_hooks.random_state``,
    ``default_hooks.preemption`` and ``default_hooks.resume_check`` are
    added unless the config sets them or lists the hook in
    ``custom_hooks``; settings without a ``type`` (e.g.
    ``--cfg-options default_hooks.preemption.requeue_signals=[SIGUSR1]``)
    get the default hook's. Set such a key to None to leave the hook out,
    or the checkpoint hook's type to ``'mmengine.CheckpointHook'`` to keep
    mmengine's.
    """
    hooks = cfg.get('default_hooks')
    hooks = ConfigDict() if hooks is None else hooks
    checkpoint = hooks.get('checkpoint', dict(type='CheckpointHook'))
    if checkpoint is not None and checkpoint.get('type') == 'CheckpointHook':
        checkpoint = ConfigDict(checkpoint)
        checkpoint.type = 'hornet_mm.CheckpointHook'
        checkpoint.setdefault('interval', 1)
        hooks.checkpoint = checkpoint
    custom = [
        str(hook.get('type', '')).split('.')[-1]
        for hook in cfg.get('custom_hooks') or []
    ]
    for name, hook_type in _DEFAULT_HOOKS.items():
        if name in hooks:
            if hooks[name] is None:  # switched off
                hooks.pop(name)
            elif 'type' not in hooks[name]:  # settings only, e.g. from
                hooks[name].type = hook_type  # --cfg-options
        elif hook_type.split('.')[-1] not in custom:
            hooks[name] = ConfigDict(type=hook_type)
    cfg.default_hooks = hooks
