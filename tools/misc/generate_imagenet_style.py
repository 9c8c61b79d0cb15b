"""Write a small, seeded, learnable ImageNet-layout dataset.

JPEG files in one folder per class under train/ and val/, and the
meta/train.txt, meta/val.txt and meta/classes.txt files mmpretrain reads.
The classes are shapes and textures drawn with random colours, sizes and
positions (see hornet_mm/datasets/synthetic.py).

Example:
    python tools/misc/generate_imagenet_style.py data/synthetic_imagenet
"""
import argparse
import sys

from hornet_mm.datasets.synthetic import SHAPE_CLASSES, make_imagenet_style


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', help='dataset root to write')
    parser.add_argument(
        '--num-train', type=int, default=150, help='train images per class')
    parser.add_argument(
        '--num-val', type=int, default=25, help='val images per class')
    parser.add_argument(
        '--classes',
        nargs='+',
        choices=list(SHAPE_CLASSES),
        help='subset of the classes (default: all)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    counts = make_imagenet_style(
        args.out_dir,
        num_train=args.num_train,
        num_val=args.num_val,
        classes=args.classes,
        seed=args.seed)
    sys.stdout.write(f"wrote {counts['train']} train and {counts['val']} val "
                     f'images to {args.out_dir}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
