"""Convert a released HorNet checkpoint to an mmengine checkpoint.

Classifiers: reads the official release's layout (``{'model': ...}``,
optionally with ``model_ema``) or mmpretrain's, and writes ``{'state_dict':
{'backbone.*', 'head.fc.*'}, 'meta': ...}``, usable as ``load_from`` of a
hornet_mm classifier and as ``init_cfg=dict(type='Pretrained', checkpoint=DST,
prefix='backbone.')`` of a detector or segmentor.

Detectors and segmentors (the released Cascade Mask R-CNN / UperNet models,
written by mmdet 2.x / mmseg 0.x, or any HorNet model of the 1.x stack): writes
an mmengine checkpoint for the hornet_mm config given with ``--config`` (or
the one config in ``configs/`` that fits), with ``dataset_meta`` (classes,
palette) taken from the mmcv 1.x ``meta``; the result is checked to load
strictly into the config's model. A config that does not fit is named with
what the checkpoint holds and the configs that do fit.

Nothing is written when the conversion fails.

Examples:
    python tools/model_converters/hornet_to_mm.py hornet_tiny_7x7.pth \
        checkpoints/hornet-tiny_in1k.pth
    python tools/model_converters/hornet_to_mm.py \
        cascade_mask_rcnn_hornet_tiny_7x7_3x_coco_in1k.pth \
        checkpoints/cascade-mask-rcnn_hornet-t_coco.pth \
        --config configs/detection/cascade-mask-rcnn_hornet-t_fpn_\
4conv1fc-giou_ms-crop-3x_coco.py
"""
import argparse
import sys

from mmengine.logging import MMLogger

from hornet_mm.apis.checkpoint import check_destination, convert_checkpoint
from hornet_mm.apis.released import (convert_loaded_model, is_dense_state_dict,
                                     read_released_checkpoint)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'src', help='released checkpoint (official/mmpretrain)')
    parser.add_argument('dst', help='output path of the converted checkpoint')
    parser.add_argument(
        '--config',
        help='hornet_mm config of a detector/segmentor checkpoint (default: '
        'the config in configs/ that fits)')
    parser.add_argument(
        '--ema',
        action='store_true',
        help='convert the EMA weights (model_ema) instead of model')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='read SRC with weights_only=False; only for trusted files that '
        'hold pickled objects other than tensors')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    logger = MMLogger.get_instance('hornet_to_mm', log_level='INFO')
    try:
        check_destination(args.src, args.dst)  # before reading a large file
        state_dict, source_meta = read_released_checkpoint(
            args.src, unsafe=args.unsafe_load)
        if is_dense_state_dict(state_dict):
            meta = convert_loaded_model(state_dict, source_meta, args.src,
                                        args.dst, args.config)
            classes = meta.get('dataset_meta', {}).get('classes')
            logger.info(f"converted {args.src} ({meta['model']}"
                        f"{', class names' if classes else ''}) for "
                        f"{meta['config']} -> {args.dst}")
            return 0
        if args.config:
            raise ValueError(f'{args.src} is a classification checkpoint '
                             '(no neck or heads); --config is for detectors '
                             'and segmentors')
        del state_dict
        meta = convert_checkpoint(
            args.src, args.dst, use_ema=args.ema, unsafe_load=args.unsafe_load)
    except (ValueError, FileNotFoundError) as err:
        sys.stderr.write(f'error: conversion failed: {err}\n')
        return 1
    logger.info(f"converted {args.src} (arch {meta['arch']}, "
                f"{meta.get('num_classes', 'no')} classes) -> {args.dst}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
