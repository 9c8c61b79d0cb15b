"""Train a model from an mmpretrain, mmdet or mmseg config.

The library is the config's ``default_scope``; flags mean what they mean in
those libraries' own ``tools/train.py``.

Example:
    python tools/train.py configs/hornet/hornet-tiny-gf_8xb128_in1k.py \
        --work-dir work_dirs/tiny-gf --amp
"""
import argparse
import os
import sys

from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from hornet_mm.engine import (CheckpointError, ResumeError,
                              TrainingInterrupted, WorkDirInUse,
                              add_default_training_hooks,
                              find_resume_checkpoint, lock_work_dir)
from hornet_mm.utils import cli
from hornet_mm.utils.cli import (load_config, set_dataloader_defaults,
                                 set_work_dir, setup_cpu_distributed)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or without a path from the '
        'latest checkpoint in the work directory')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch over '
        'auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='disable pin_memory in the dataloaders')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='disable persistent_workers in the dataloaders')
    return cli.parse_args(parser, argv)


def merge_args(cfg, args):
    """Apply the command-line flags to the config."""
    cfg.launcher = args.launcher
    set_work_dir(cfg, args.config, args.work_dir)

    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    if args.amp:
        # hornet_mm's wrapper is mmengine's on GPUs and falls back to
        # bfloat16 autocast on CPU-only machines
        if cfg.optim_wrapper.get('type') in ('AmpOptimWrapper',
                                             'hornet_mm.AmpOptimWrapper'):
            print_log('AMP is already on in the config', logger='current')
        cfg.optim_wrapper.type = 'hornet_mm.AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        # the newest complete checkpoint (None: nothing to resume)
        cfg.resume = True
        cfg.load_from = find_resume_checkpoint(cfg.work_dir)
    elif args.resume is not None:
        if not os.path.isfile(args.resume):
            raise FileNotFoundError(
                f'--resume checkpoint not found: {args.resume}')
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise KeyError('--auto-scale-lr needs auto_scale_lr = dict('
                           'base_batch_size=...) in the config')
        cfg.auto_scale_lr.enable = True

    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    if cfg.get('default_scope') == 'mmpretrain':
        # mmpretrain's tools batch samples with default_collate
        for field in loaders:
            if cfg.get(field) is not None:
                cfg[field].setdefault('collate_fn',
                                      dict(type='default_collate'))
    set_dataloader_defaults(
        cfg,
        loaders,
        pin_memory=not args.no_pin_memory,
        persistent_workers=not args.no_persistent_workers)
    # atomic checkpoints, exact resumption, a stop on NaN/inf losses
    add_default_training_hooks(cfg)
    return cfg


def run_train(cfg) -> None:
    # one run per work dir, from before the runner writes there until the
    # end of training, however it ends (rank 0 of distributed runs)
    with lock_work_dir(cfg.work_dir, cfg.get('launcher', 'none')):
        runner = RUNNERS.build(cfg) if 'runner_type' in cfg \
            else Runner.from_cfg(cfg)
        runner.train()


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = merge_args(load_config(args.config, args.cfg_options), args)
    except (FileNotFoundError, KeyError, ResumeError) as err:
        sys.stderr.write(f'error: {err}\n')
        return 2
    cpu_distributed = setup_cpu_distributed(cfg)
    cli.flush_denormals()
    status = 0
    try:
        run_train(cfg)
    except TrainingInterrupted as stop:  # logged, checkpoint written
        status = stop.code
    except (WorkDirInUse, ResumeError, CheckpointError) as err:  # refused
        sys.stderr.write(f'error: {err}\n')
        return 2
    except KeyboardInterrupt as err:
        # one line instead of the tracebacks of every frame and worker
        sys.stderr.write(f'{err or "Interrupted (SIGINT)"}\n')
        return 130
    if cpu_distributed:  # the runner is gone: join gloo's threads
        cli.shutdown_distributed()
    return status


if __name__ == '__main__':
    sys.exit(main())
