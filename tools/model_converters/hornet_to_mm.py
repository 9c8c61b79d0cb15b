"""Convert a released HorNet checkpoint to an mmengine checkpoint.

Reads the official release's layout (``{'model': ...}``, optionally with
``model_ema``) or mmpretrain's, and writes ``{'state_dict': {'backbone.*',
'head.fc.*'}, 'meta': ...}``, usable as ``load_from`` of a hornet_mm classifier
and as ``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``
of a detector or segmentor. Nothing is written when the conversion fails.

Example:
    python tools/model_converters/hornet_to_mm.py hornet_tiny_7x7.pth \
        checkpoints/hornet-tiny_in1k.pth
"""
import argparse
import sys

from mmengine.logging import MMLogger

from hornet_mm.apis import convert_checkpoint


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'src', help='released checkpoint (official/mmpretrain)')
    parser.add_argument('dst', help='output path of the converted checkpoint')
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
