"""The main job: HorNet instance segmentation end to end on this machine.

The HorNet workflow in miniature: a backbone pretrained as a classifier,
converted, and a Mask R-CNN fine-tuned from it, as the released detectors are
fine-tuned from ImageNet weights. Steps (each prints what it did and where
its output went):

1. data: a seeded COCO-format instance set (drawn shapes of 4 categories,
   polygon and RLE masks, crowd regions; ``make_synthetic_data.py coco``)
   and a seeded ImageNet-style classification set (8 classes of shapes and
   textures; ``make_synthetic_data.py imagenet``), unless they are there;
2. pretraining: the detector's small HorNet as a classifier with
   ``tools/train.py``
   (``configs/hornet/hornet-nano32_1xb32_synthetic-in8.py``);
3. conversion of its last checkpoint with
   ``tools/model_converters/hornet_to_mm.py`` (weights only);
4. training: the small-HorNet Mask R-CNN with ``tools/train.py``, its backbone
   initialised from the converted file (``init_cfg`` ``Pretrained``);
5. evaluation with ``tools/test.py`` and pycocotools: COCO bbox and segm mAP
   on the validation split;
6. pictures: ``tools/demo/image_demo.py`` draws boxes, masks and labels on
   validation images; the loss and mAP curves.

``--epochs`` and ``--pretrain-epochs`` default to the two configs'
``max_epochs``; ``--pretrain-epochs 0`` skips steps 2 and 3 and trains the
detector from scratch.

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
from typing import List, Optional

from hornet_mm.utils.pipeline import Pipeline

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(
    REPO, 'configs', 'detection',
    'mask-rcnn_hornet-nano-in8-pre_fpn-gn_2fc-giou_1xb4-7e_'
    'synthetic-coco.py')
PRETRAIN_CONFIG = osp.join(REPO, 'configs', 'hornet',
                           'hornet-nano32_1xb32_synthetic-in8.py')
STEPS = 6


def _generate(pipe: Pipeline, kind: str, root: str, marker: str) -> None:
    if osp.isfile(marker):
        sys.stdout.write(f'  {root} exists, reusing it\n')
        return
    sys.stdout.write(
        pipe.run([
            sys.executable,
            osp.join(REPO, 'tools', 'misc', 'make_synthetic_data.py'), kind,
            root
        ]))


def _epoch_options(epochs: Optional[int]) -> List[str]:
    """``--cfg-options`` for a schedule of ``epochs`` (one validation at
    its end, the cosine over all of it); none for the config's own."""
    if epochs is None:
        return []
    return [
        f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
        f'param_scheduler.1.end={epochs}'
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/quickstart')
    parser.add_argument(
        '--data-root',
        default=osp.join(REPO, 'data', 'synthetic_coco'),
        help='where the generated COCO-format set goes (the config\'s '
        'default)')
    parser.add_argument(
        '--pretrain-data-root',
        default=osp.join(REPO, 'data', 'synthetic_imagenet'),
        help='where the generated ImageNet-style set goes')
    parser.add_argument(
        '--epochs',
        type=int,
        help='detector training epochs (default: the config\'s max_epochs)')
    parser.add_argument(
        '--pretrain-epochs',
        type=int,
        help='backbone pretraining epochs (default: its config\'s '
        'max_epochs); 0: train the detector from scratch')
    args = parser.parse_args()
    if args.epochs is not None and args.epochs < 1:
        parser.error('--epochs must be >= 1')
    if args.pretrain_epochs is not None and args.pretrain_epochs < 0:
        parser.error('--pretrain-epochs must be >= 0')
    pretrain = args.pretrain_epochs != 0
    work_dir = osp.abspath(args.work_dir)
    data_root = osp.abspath(args.data_root)
    pretrain_root = osp.abspath(args.pretrain_data_root)
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

    pipe.step(1, 'data: seeded COCO-format and ImageNet-style sets')
    _generate(pipe, 'coco', data_root, ann)
    if pretrain:
        _generate(pipe, 'imagenet', pretrain_root,
                  osp.join(pretrain_root, 'meta', 'val.txt'))

    pretrained = osp.join(work_dir, 'pretrain', 'hornet-nano32_in8.pth')
    if pretrain:
        pipe.step(2, 'pretrain the backbone as a classifier (tools/train.py)')
        pretrain_dir = osp.join(work_dir, 'pretrain')
        pipe.train([
            python,
            osp.join(REPO, 'tools', 'train.py'), PRETRAIN_CONFIG, '--work-dir',
            pretrain_dir, '--cfg-options',
            *(f'{loader}.dataset.data_root={pretrain_root}'
              for loader in ('train_dataloader', 'val_dataloader',
                             'test_dataloader')),
            *_epoch_options(args.pretrain_epochs)
        ],
                   osp.join(work_dir, 'pretrain.log'),
                   log_interval=5)

        pipe.step(3, 'convert it for the detector (hornet_to_mm.py)')
        pipe.run([
            python,
            osp.join(REPO, 'tools', 'model_converters', 'hornet_to_mm.py'),
            pipe.last_checkpoint(pretrain_dir), pretrained
        ])
        sys.stdout.write(f'  {pretrained}\n')
        init = [f'model.backbone.init_cfg.checkpoint={pretrained}']
        what = 'fine-tune the small-HorNet Mask R-CNN from it'
    else:
        pipe.step(2, 'pretraining skipped (--pretrain-epochs 0)')
        pipe.step(3, 'nothing to convert')
        init = ['model.backbone.init_cfg=None']
        what = 'train the small-HorNet Mask R-CNN from scratch'

    pipe.step(4, what)
    train_dir = osp.join(work_dir, 'train')
    pipe.train([
        python,
        osp.join(REPO, 'tools', 'train.py'), CONFIG, '--work-dir', train_dir,
        *options, *init, *_epoch_options(args.epochs)
    ],
               osp.join(work_dir, 'train.log'),
               log_interval=10)
    checkpoint = pipe.last_checkpoint(train_dir)

    pipe.step(5, 'evaluate with pycocotools (tools/test.py)')
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

    pipe.step(6, 'draw predictions on validation images')
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
        f'  datasets             {data_root}'
        f'{", " + pretrain_root if pretrain else ""}\n'
        f'  pretrained backbone  '
        f'{pretrained if pretrain else "none (from scratch)"}\n'
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
