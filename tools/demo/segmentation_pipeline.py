"""Semantic segmentation with HorNet end to end on this machine.

Steps (each prints what it did and where its output went):

1. data: a seeded ADE20K-format set (sky, ground and drawn shapes, label 0 =
   "other"; ``tools/misc/make_synthetic_data.py ade``) unless it is already
   there;
2. training: a small-HorNet UperNet (``--head gnuper``: with the gnConv
   UPerNet head) from scratch with ``tools/train.py``;
3. evaluation with ``tools/test.py`` (mmseg's IoUMetric, sliding window):
   single-scale, with coloured prediction overlays (``--show-dir``), then
   multi-scale + flip (``--tta``); the mIoU of uniformly random labels is
   printed next to them for scale.

Example:
    python tools/demo/segmentation_pipeline.py --work-dir work_dirs/seg
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
import time

import cv2
import numpy as np

from hornet_mm.utils.pipeline import Pipeline

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = {
    'uper':
    osp.join(REPO, 'configs', 'segmentation',
             'hornet-nano_upernet_1xb8-2k_synthetic-ade-128x128.py'),
    'gnuper':
    osp.join(REPO, 'configs', 'segmentation',
             'hornet-nano_gnuper-gf_1xb8-2k_synthetic-ade-128x128.py'),
}
STEPS = 3


def chance_miou(label_dir: str, num_classes: int) -> float:
    """Expected mIoU (%) of labels drawn uniformly at random, given the
    class frequencies of the label maps (0 = other, ignored)."""
    counts = np.zeros(num_classes + 1, np.int64)
    for path in glob.glob(osp.join(label_dir, '*.png')):
        label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        counts += np.bincount(label.ravel(), minlength=num_classes + 1)
    freq = counts[1:] / counts[1:].sum()
    k = num_classes
    ious = (freq / k) / (freq + 1 / k - freq / k)
    return float(100 * ious.mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/segmentation')
    parser.add_argument(
        '--data-root',
        default=osp.join(REPO, 'data', 'synthetic_ade'),
        help='where the generated dataset goes (the config\'s default)')
    parser.add_argument(
        '--head',
        choices=sorted(CONFIGS),
        default='uper',
        help='uper: UPerHead; gnuper: the gnConv UPerNet head (GF mixer)')
    parser.add_argument(
        '--iters', type=int, default=2000, help='training iterations')
    parser.add_argument(
        '--amp', action='store_true', help='train in mixed precision')
    parser.add_argument(
        '--no-tta',
        action='store_true',
        help='skip the multi-scale + flip evaluation')
    args = parser.parse_args()
    config = CONFIGS[args.head]
    work_dir = osp.abspath(args.work_dir)
    data_root = osp.abspath(args.data_root)
    os.makedirs(work_dir, exist_ok=True)
    python = sys.executable
    pipe = Pipeline(REPO, STEPS)
    start = time.time()
    options = [
        '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}'
    ]

    pipe.step(1, 'data: seeded ADE20K-format set')
    val_labels = osp.join(data_root, 'annotations', 'validation')
    if osp.isdir(val_labels):
        sys.stdout.write(f'  {data_root} exists, reusing it\n')
    else:
        sys.stdout.write(
            pipe.run([
                python,
                osp.join(REPO, 'tools', 'misc', 'make_synthetic_data.py'),
                'ade', data_root
            ]))

    pipe.step(2, f'train a small-HorNet UperNet ({args.head}) from scratch')
    train_dir = osp.join(work_dir, 'train')
    pipe.train([
        python,
        osp.join(REPO, 'tools', 'train.py'), config, '--work-dir', train_dir,
        *(['--amp'] if args.amp else []), *options,
        f'train_cfg.max_iters={args.iters}',
        f'train_cfg.val_interval={args.iters}',
        f'param_scheduler.1.end={args.iters}',
        f'default_hooks.checkpoint.interval={min(500, args.iters)}'
    ],
               osp.join(work_dir, 'train.log'),
               log_interval=max(args.iters // 8, 1))
    checkpoint = osp.join(train_dir, f'iter_{args.iters}.pth')

    pipe.step(
        3, 'evaluate (tools/test.py): single-scale with overlays, '
        'then multi-scale + flip')
    results = {}
    show_dir = osp.join(work_dir, 'overlays')
    modes = [('single-scale', ['--show-dir', show_dir])]
    if not args.no_tta:
        modes.append(('ms+flip', ['--tta']))
    for mode, extra in modes:
        path = osp.join(work_dir, f'metrics_{mode}.json')
        pipe.run([
            python,
            osp.join(REPO, 'tools',
                     'test.py'), config, checkpoint, '--work-dir',
            osp.join(work_dir, 'test'), '--out', path, '--out-item', 'metrics',
            *extra, *options
        ])
        with open(path) as f:
            results[mode] = json.load(f)
        sys.stdout.write(f'  {mode:<12} mIoU {results[mode]["mIoU"]:.2f}  '
                         f'aAcc {results[mode]["aAcc"]:.2f}  '
                         f'mAcc {results[mode]["mAcc"]:.2f}\n')
    chance = chance_miou(val_labels, num_classes=6)
    sys.stdout.write(f'  uniformly random labels: mIoU {chance:.2f}\n')
    overlays = sorted(
        glob.glob(osp.join(show_dir, 'vis_data', 'vis_image', '*.png')))
    summary = dict(
        head=args.head,
        iters=args.iters,
        chance_mIoU=chance,
        overlays=osp.dirname(overlays[-1]) if overlays else None,
        **{
            f'{mode}/{k}': v
            for mode, metrics in results.items()
            for k, v in metrics.items()
        })
    with open(osp.join(work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    curves = pipe.curves(train_dir, ['loss', 'mIoU'],
                         osp.join(work_dir, 'curves.png'))

    miou = ', '.join(f'{metrics["mIoU"]:.2f} {mode}'
                     for mode, metrics in results.items())
    sys.stdout.write(
        f'\nDone in {time.time() - start:.0f} s. Outputs:\n'
        f'  dataset              {data_root}\n'
        f'  training log, ckpts  {osp.join(work_dir, "train.log")}, '
        f'{train_dir}\n'
        f'  metrics              {osp.join(work_dir, "summary.json")} '
        f'(mIoU: {miou})\n'
        f'  overlays             {summary["overlays"]} '
        f'({len(overlays)} pictures)\n'
        f'  loss / mIoU curves   {curves}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
