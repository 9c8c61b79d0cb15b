"""The main job: HorNet instance segmentation end to end on this machine.

Steps (each prints what it did and where its output went):

1. data: a seeded COCO-format instance set (drawn shapes of 4 categories,
   polygon and RLE masks, crowd regions;
   ``tools/misc/make_synthetic_data.py coco``) unless it is already there;
2. training: a small-HorNet Mask R-CNN from scratch with ``tools/train.py``;
3. evaluation with ``tools/test.py`` and pycocotools: COCO bbox and segm mAP
   on the validation split;
4. pictures: ``tools/demo/image_demo.py`` draws boxes, masks and labels on
   validation images.

Example:
    python tools/demo/detection_pipeline.py --work-dir work_dirs/quickstart
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
import time

from hornet_mm.utils.pipeline import Pipeline

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'detection',
                  'mask-rcnn_hornet-nano_fpn_1xb4-12e_synthetic-coco.py')
STEPS = 4


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/quickstart')
    parser.add_argument(
        '--data-root',
        default=osp.join(REPO, 'data', 'synthetic_coco'),
        help='where the generated dataset goes (the config\'s default)')
    parser.add_argument(
        '--epochs', type=int, default=12, help='training epochs')
    args = parser.parse_args()
    work_dir = osp.abspath(args.work_dir)
    data_root = osp.abspath(args.data_root)
    os.makedirs(work_dir, exist_ok=True)
    python = sys.executable
    pipe = Pipeline(REPO, STEPS)
    start = time.time()
    ann = osp.join(data_root, 'annotations', 'instances_val2017.json')
    options = [
        '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}'
    ]

    pipe.step(1, 'data: seeded COCO-format instance set')
    if osp.isfile(ann):
        sys.stdout.write(f'  {data_root} exists, reusing it\n')
    else:
        sys.stdout.write(
            pipe.run([
                python,
                osp.join(REPO, 'tools', 'misc', 'make_synthetic_data.py'),
                'coco', data_root
            ]))

    pipe.step(2, 'train a small-HorNet Mask R-CNN from scratch')
    train_dir = osp.join(work_dir, 'train')
    pipe.train([
        python,
        osp.join(REPO, 'tools', 'train.py'), CONFIG, '--work-dir', train_dir,
        *options, f'train_cfg.max_epochs={args.epochs}',
        f'train_cfg.val_interval={args.epochs}',
        f'param_scheduler.1.end={args.epochs}'
    ],
               osp.join(work_dir, 'train.log'),
               log_interval=10)
    checkpoint = osp.join(train_dir, f'epoch_{args.epochs}.pth')

    pipe.step(3, 'evaluate with pycocotools (tools/test.py)')
    metrics_path = osp.join(work_dir, 'metrics.json')
    pipe.run([
        python,
        osp.join(REPO, 'tools', 'test.py'), CONFIG, checkpoint, '--work-dir',
        osp.join(work_dir, 'test'), '--out', metrics_path, '--out-item',
        'metrics', *options
    ])
    with open(metrics_path) as f:
        metrics = json.load(f)
    for kind in ('bbox', 'segm'):
        sys.stdout.write(f'  {kind}: mAP {metrics[f"coco/{kind}_mAP"]:.3f}, '
                         f'mAP@50 {metrics[f"coco/{kind}_mAP_50"]:.3f}, '
                         f'mAP@75 {metrics[f"coco/{kind}_mAP_75"]:.3f}\n')

    pipe.step(4, 'draw predictions on validation images')
    images = sorted(glob.glob(osp.join(data_root, 'val2017', '*.jpg')))[:4]
    pictures = osp.join(work_dir, 'pictures')
    sys.stdout.write(
        pipe.run([
            python,
            osp.join(REPO, 'tools', 'demo', 'image_demo.py'), *images, CONFIG,
            '--weights', checkpoint, '--out-dir', pictures
        ]))
    curves = pipe.curves(train_dir, ['loss', 'bbox_mAP', 'segm_mAP'],
                         osp.join(pictures, 'curves.png'))

    sys.stdout.write(
        f'\nDone in {time.time() - start:.0f} s. Outputs:\n'
        f'  dataset              {data_root}\n'
        f'  training log, ckpts  {osp.join(work_dir, "train.log")}, '
        f'{train_dir}\n'
        f'  metrics              {metrics_path} (bbox mAP '
        f'{metrics["coco/bbox_mAP"]:.3f}, segm mAP '
        f'{metrics["coco/segm_mAP"]:.3f})\n'
        f'  pictures             {osp.join(pictures, "vis")}\n'
        f'  loss / mAP curves    {curves}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
