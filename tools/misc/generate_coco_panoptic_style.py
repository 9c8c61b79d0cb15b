"""Write a small, seeded, learnable COCO-panoptic-format set.

train2017/ and val2017/ (JPEG), annotations/panoptic_{train,val}2017.json
with the RGB-encoded segment PNGs in annotations/panoptic_{train,val}2017/,
and annotations/instances_{train,val}2017.json for the thing categories, as
mmdet's COCO panoptic configs expect. Things are drawn shapes, stuff is the
sky and the ground behind them (see hornet_mm/datasets/synthetic_panoptic.py).

Example:
    python tools/misc/generate_coco_panoptic_style.py data/synthetic_panoptic
"""
import argparse
import sys

from hornet_mm.datasets.synthetic_panoptic import make_coco_panoptic_style


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', help='dataset root to write')
    parser.add_argument(
        '--num-train', type=int, default=200, help='training images')
    parser.add_argument(
        '--num-val', type=int, default=50, help='validation images')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    counts = make_coco_panoptic_style(
        args.out_dir,
        num_train=args.num_train,
        num_val=args.num_val,
        seed=args.seed)
    for split, split_counts in counts.items():
        sys.stdout.write(f"{split}: {split_counts['images']} images, "
                         f"{split_counts['things']} thing segments "
                         f"({split_counts['crowd']} crowd), "
                         f"{split_counts['stuff']} stuff segments\n")
    sys.stdout.write(f'wrote to {args.out_dir}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
