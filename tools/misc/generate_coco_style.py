"""Write a small, seeded, learnable COCO-format instance-segmentation set.

JPEG files under train2017/ and val2017/ and the
annotations/instances_{train,val}2017.json files mmdet's CocoDataset reads.
The objects are circles, rectangles, triangles and crosses drawn with random
colours, sizes and positions, often overlapping; masks (polygons, RLE and a
few iscrowd regions) describe the visible parts (see
hornet_mm/datasets/synthetic_coco.py).

Example:
    python tools/misc/generate_coco_style.py data/synthetic_coco
"""
import argparse
import sys

from hornet_mm.datasets.synthetic_coco import make_coco_style


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', help='dataset root to write')
    parser.add_argument(
        '--num-train', type=int, default=200, help='train images')
    parser.add_argument('--num-val', type=int, default=50, help='val images')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    counts = make_coco_style(
        args.out_dir,
        num_train=args.num_train,
        num_val=args.num_val,
        seed=args.seed)
    for split, split_counts in counts.items():
        sys.stdout.write(
            f"{split}: {split_counts['images']} images, "
            f"{split_counts['annotations']} annotations "
            f"({split_counts['polygon']} polygon, {split_counts['rle']} RLE, "
            f"{split_counts['crowd']} crowd)\n")
    sys.stdout.write(f'wrote to {args.out_dir}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
