"""Evaluate a checkpoint with an mmpretrain, mmdet or mmseg config.

Example:
    python tools/test.py configs/hornet/hornet-tiny-gf_8xb128_in1k.py \
        checkpoints/hornet-tiny-gf_in1k.pth --out results.pkl --tta
"""
import argparse
import os.path as osp
import sys
from copy import deepcopy

import mmengine
from mmengine.config import ConfigDict
from mmengine.dist import is_main_process
from mmengine.evaluator import DumpResults
from mmengine.hooks import Hook
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from hornet_mm.engine.resume import (CheckpointError, check_checkpoint_finite,
                                     check_checkpoint_fits, checkpoint_problem)
from hornet_mm.utils import cli
from hornet_mm.utils.cli import (load_config, set_dataloader_defaults,
                                 set_work_dir, setup_cpu_distributed)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the metrics log')
    parser.add_argument(
        '--out',
        help='dump the predictions (.pkl) to this file; with --out-item '
        'metrics, the metrics (.json/.pkl/.yaml)')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help='what --out holds (default: the predictions)')
    parser.add_argument(
        '--show-dir',
        help='save pictures of the predictions in this directory (as in the '
        'libraries: mmpretrain and mmseg take it as given, mmdet puts it '
        'under the work dir\'s timestamped folder)')
    parser.add_argument(
        '--show', action='store_true', help='show the predictions')
    parser.add_argument(
        '--interval', type=int, default=1, help='visualise every N samples')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='display time (s)')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation: the config\'s tta_model and '
        'tta_pipeline; for classifiers without them, flip averaging')
    parser.add_argument(
        '--amp', action='store_true', help='test in mixed precision')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='disable pin_memory in the dataloader')
    return cli.parse_args(parser, argv)


def _enable_tta(cfg) -> None:
    if 'tta_model' not in cfg and cfg.get('default_scope') == 'mmpretrain':
        cfg.tta_model = dict(type='mmpretrain.AverageClsScoreTTA')
    if 'tta_pipeline' not in cfg and cfg.get('default_scope') == 'mmpretrain':
        pipeline = cfg.test_dataloader.dataset.pipeline
        cfg.tta_pipeline = deepcopy(pipeline)
        cfg.tta_pipeline[-1] = dict(
            type='TestTimeAug',
            transforms=[[
                dict(type='RandomFlip', prob=1.),
                dict(type='RandomFlip', prob=0.)
            ], [pipeline[-1]]])
    if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
        raise KeyError('--tta needs tta_model and tta_pipeline in the config')
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def merge_args(cfg, args):
    """Apply the command-line flags to the config."""
    cfg.launcher = args.launcher
    set_work_dir(cfg, args.config, args.work_dir)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'Checkpoint not found: {args.checkpoint}')
    problem = checkpoint_problem(args.checkpoint)
    if problem is not None:
        raise CheckpointError(f'Checkpoint {args.checkpoint} {problem}')
    cfg.load_from = args.checkpoint
    cfg.resume = False

    if args.amp:
        cfg.test_cfg = cfg.get('test_cfg') or ConfigDict()
        cfg.test_cfg.fp16 = True

    if args.show or args.show_dir:
        hooks = cfg.get('default_hooks') or {}
        if 'visualization' not in hooks:
            raise KeyError('--show/--show-dir need a visualization hook in '
                           'default_hooks')
        vis = cfg.default_hooks.visualization
        scope = cfg.get('default_scope')
        if scope == 'mmpretrain':
            vis.enable = True
            vis.out_dir = args.show_dir
        elif scope == 'mmseg':  # the visualizer's save_dir, as mmseg's tool
            vis.draw = True
            if args.show_dir:
                cfg.visualizer.save_dir = args.show_dir
        else:  # mmdet's hook draws into test_out_dir when `draw` is set
            vis.draw = True
            vis.test_out_dir = args.show_dir
        vis.show = args.show
        vis.wait_time = args.wait_time
        vis.interval = args.interval

    if args.tta:
        _enable_tta(cfg)

    if cfg.get('default_scope') == 'mmpretrain' and cfg.get(
            'test_dataloader') is not None:
        cfg.test_dataloader.setdefault('collate_fn',
                                       dict(type='default_collate'))
    set_dataloader_defaults(
        cfg, ['test_dataloader'],
        pin_memory=not args.no_pin_memory,
        persistent_workers=False)
    return cfg


class CheckCheckpointHook(Hook):
    """Refuse the checkpoint under test as training refuses a ``load_from``
    checkpoint: one that does not fit the model or holds NaN or infinite
    weights (``check_checkpoint_fits`` and ``check_checkpoint_finite`` of
    :mod:`hornet_mm.engine.resume`).

    Runs on every rank, with the model wrapped for test-time augmentation
    or not, after the file is read and before mmengine's non-strict load,
    which would evaluate the model's random initialisation with a warning.
    """

    def __init__(self, checkpoint: str) -> None:
        self.checkpoint = checkpoint

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        check_checkpoint_fits(runner.model, checkpoint, self.checkpoint)
        check_checkpoint_finite(checkpoint, self.checkpoint)


def run_test(cfg, args) -> None:
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg \
        else Runner.from_cfg(cfg)
    runner.register_hook(CheckCheckpointHook(args.checkpoint), 'VERY_HIGH')
    if args.out and args.out_item in (None, 'pred'):
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    metrics = runner.test()
    if args.out and args.out_item == 'metrics' and is_main_process():
        mmengine.dump(metrics, args.out)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.out_item is not None and args.out is None:
        sys.stderr.write('error: --out-item needs --out\n')
        return 2
    try:
        cfg = merge_args(load_config(args.config, args.cfg_options), args)
    except (FileNotFoundError, KeyError, CheckpointError) as err:
        sys.stderr.write(f'error: {err}\n')
        return 2
    cpu_distributed = setup_cpu_distributed(cfg)
    cli.flush_denormals()
    status = 0
    try:
        run_test(cfg, args)
    except CheckpointError as err:  # every rank refuses the same file
        sys.stderr.write(f'error: {err}\n')
        status = 2
    if cpu_distributed:  # the runner is gone: join gloo's threads
        cli.shutdown_distributed()
    return status


if __name__ == '__main__':
    sys.exit(main())
