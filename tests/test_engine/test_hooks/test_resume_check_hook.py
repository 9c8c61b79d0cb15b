"""Resuming with settings the checkpoint cannot honour is refused: another
learning-rate scaling (``--auto-scale-lr`` with another total batch), or a
``max_epochs`` / ``max_iters`` the checkpoint has already reached."""
import pytest
import torch
from mmengine.config import Config

from hornet_mm.engine import ResumeError, add_default_training_hooks


class _Data(torch.utils.data.Dataset):
    metainfo = dict()

    def __init__(self):
        gen = torch.Generator().manual_seed(0)
        self.inputs = torch.rand(8, 2, generator=gen)

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, index):
        x = self.inputs[index]
        return dict(inputs=x, labels=x.sum(0, keepdim=True))


def _runner(make_runner, batch_size=2, auto_scale_lr=None, **overrides):
    """A toy Runner with the hooks ``tools/train.py`` adds (but the signal
    handlers, which would stay in pytest's process after an error)."""
    cfg = Config(
        dict(
            default_hooks=dict(
                checkpoint=dict(type='CheckpointHook', interval=1),
                preemption=None)))
    add_default_training_hooks(cfg)
    checkpoint = cfg.default_hooks.checkpoint
    checkpoint.update(overrides.pop('checkpoint', {}))
    return make_runner(
        train_dataloader=dict(
            dataset=_Data(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            batch_size=batch_size,
            num_workers=0),
        default_hooks=cfg.default_hooks.to_dict(),
        auto_scale_lr=auto_scale_lr,
        **overrides)


def _files(work):
    return {
        p.name: p.read_bytes()
        for p in work.iterdir() if not p.name.startswith('20')
    }


def _lr(runner):
    return runner.optim_wrapper.optimizer.param_groups[0]['lr']


def test_resume_with_another_lr_scaling_refused(make_runner, tmp_path):
    scale = dict(base_batch_size=2, enable=True)
    runner = _runner(
        make_runner,
        auto_scale_lr=scale,
        train_cfg=dict(by_epoch=True, max_epochs=1))
    runner.train()  # total batch 2 = base: lr 0.1 as configured
    work = tmp_path / 'work'
    before = _files(work)

    # total batch 1: "Scaling the original LR by 0.5", but the optimizer's
    # and schedulers' states of the checkpoint would keep lr 0.1
    resumed = _runner(
        make_runner,
        batch_size=1,
        auto_scale_lr=scale,
        resume=True,
        load_from=str(work / 'epoch_1.pth'))
    with pytest.raises(ResumeError) as info:
        resumed.train()
    message = str(info.value)
    assert str(work / 'epoch_1.pth') in message
    assert 'by 1.0' in message and 'by 0.5' in message
    assert 'total batch size 2' in message and 'total batch size 1' in message
    assert _files(work) == before


def test_resume_with_the_same_lr_scaling(make_runner, tmp_path):
    scale = dict(base_batch_size=2, enable=True)
    runner = _runner(
        make_runner,
        batch_size=1,
        auto_scale_lr=scale,
        train_cfg=dict(by_epoch=True, max_epochs=1))
    runner.train()
    assert _lr(runner) == pytest.approx(0.05)
    work = tmp_path / 'work'
    # the same command again, then without --auto-scale-lr: the
    # checkpoint's (scaled) lr goes on in both
    for epochs, options in ((2, scale), (3, None)):
        resumed = _runner(
            make_runner,
            batch_size=1,
            auto_scale_lr=options,
            resume=True,
            load_from=str(work / f'epoch_{epochs - 1}.pth'),
            train_cfg=dict(by_epoch=True, max_epochs=epochs))
        resumed.train()
        assert resumed.epoch == epochs
        assert _lr(resumed) == pytest.approx(0.05)
        meta = torch.load(work / f'epoch_{epochs}.pth')['meta']
        assert meta['hornet_mm_lr_scaling']['factor'] == pytest.approx(0.5)


@pytest.mark.parametrize('by_epoch', [True, False])
@pytest.mark.parametrize('shorter', [0, 1])
def test_resume_at_or_past_the_end_refused(make_runner, tmp_path, by_epoch,
                                           shorter):
    # 8 samples / batch 2: 4 iterations per epoch
    if by_epoch:
        train_cfg, done = dict(by_epoch=True, max_epochs=2), 'epoch_2.pth'
        checkpoint = dict()
    else:
        train_cfg, done = dict(by_epoch=False, max_iters=4), 'iter_4.pth'
        checkpoint = dict(by_epoch=False, interval=2)
    runner = _runner(make_runner, train_cfg=train_cfg, checkpoint=checkpoint)
    runner.train()
    work = tmp_path / 'work'
    before = _files(work)

    key = 'max_epochs' if by_epoch else 'max_iters'
    end = train_cfg[key] - shorter
    resumed = _runner(
        make_runner,
        train_cfg={
            **train_cfg, key: end
        },
        checkpoint=checkpoint,
        resume=True,
        load_from=str(work / done))
    with pytest.raises(ResumeError) as info:
        resumed.train()
    message = str(info.value)
    unit = 'epoch' if by_epoch else 'iteration'
    assert f'{key}={end}' in message
    assert f'{unit} {train_cfg[key]}' in message
    assert str(work / done) in message
    assert _files(work) == before
