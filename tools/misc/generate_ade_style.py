"""Write a small, seeded, learnable ADE20K-format semantic-segmentation set.

images/{training,validation}/*.jpg and annotations/{training,validation}/*.png
(single-channel label maps, 0 = "other", k = the k-th class) as in
ADEChallengeData2016. The scenes show a sky, a band of mountains ("other"),
the ground and drawn shapes (see hornet_mm/datasets/synthetic_ade.py).

Example:
    python tools/misc/generate_ade_style.py data/synthetic_ade
"""
import argparse
import sys

from hornet_mm.datasets.synthetic_ade import ADE_STYLE_CLASSES, make_ade_style


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', help='dataset root to write')
    parser.add_argument(
        '--num-train', type=int, default=240, help='training images')
    parser.add_argument(
        '--num-val', type=int, default=60, help='validation images')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    counts = make_ade_style(
        args.out_dir,
        num_train=args.num_train,
        num_val=args.num_val,
        seed=args.seed)
    names = ('other', ) + ADE_STYLE_CLASSES
    for split, split_counts in counts.items():
        total = sum(split_counts['pixels'])
        shares = ', '.join(f'{name} {100 * n / total:.1f}%'
                           for name, n in zip(names, split_counts['pixels']))
        sys.stdout.write(
            f"{split}: {split_counts['images']} images; pixels: {shares}\n")
    sys.stdout.write(f'wrote to {args.out_dir}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
