"""Write a small, seeded, learnable dataset in a standard on-disk format.

One sub-command per kind (the writers are in hornet_mm/datasets/synthetic/):

  imagenet       ImageNet layout (classification)
  coco           COCO instance segmentation
  coco-panoptic  COCO panoptic segmentation
  ade            ADE20K semantic segmentation

The same arguments and seed write byte-identical files.

Examples:
    python tools/misc/make_synthetic_data.py imagenet data/synthetic_imagenet
    python tools/misc/make_synthetic_data.py coco data/synthetic_coco
    python tools/misc/make_synthetic_data.py coco-panoptic \\
        data/synthetic_coco_panoptic
    python tools/misc/make_synthetic_data.py ade data/synthetic_ade
    python tools/misc/make_synthetic_data.py coco --help
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from hornet_mm.datasets.synthetic import (ADE_STYLE_CLASSES, SHAPE_CLASSES,
                                          make_ade_style,
                                          make_coco_panoptic_style,
                                          make_coco_style, make_imagenet_style)


def _sub_command(subparsers,
                 name: str,
                 doc: str,
                 num_train: int,
                 num_val: int,
                 write,
                 per: str = '') -> argparse.ArgumentParser:
    """The parser of sub-command ``name``, described by ``doc``'s first line
    (``--help`` also shows the rest), with the options every kind has."""
    summary, _, details = doc.partition('\n')
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=details.strip() or None,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('out_dir', help='dataset root to write')
    parser.add_argument(
        '--num-train',
        type=int,
        default=num_train,
        help=f'training images{per}')
    parser.add_argument(
        '--num-val', type=int, default=num_val, help=f'val images{per}')
    parser.add_argument('--seed', type=int, default=0)
    parser.set_defaults(write=write)
    return parser


IMAGENET = """\
Write a small, seeded, learnable ImageNet-layout dataset.

JPEG files in one folder per class under train/ and val/, and the
meta/train.txt, meta/val.txt and meta/classes.txt files mmpretrain reads.
The classes are shapes and textures drawn with random colours, sizes and
positions (see hornet_mm/datasets/synthetic/imagenet.py).
"""


def _add_imagenet(subparsers) -> None:
    parser = _sub_command(
        subparsers,
        'imagenet',
        IMAGENET,
        150,
        25,
        _write_imagenet,
        per=' per class')
    parser.add_argument(
        '--classes',
        nargs='+',
        choices=list(SHAPE_CLASSES),
        help='subset of the classes (default: all)')


def _write_imagenet(args: argparse.Namespace) -> None:
    counts = make_imagenet_style(
        args.out_dir,
        num_train=args.num_train,
        num_val=args.num_val,
        classes=args.classes,
        seed=args.seed)
    sys.stdout.write(f"wrote {counts['train']} train and {counts['val']} val "
                     f'images to {args.out_dir}\n')


COCO = """\
Write a small, seeded, learnable COCO-format instance-segmentation set.

JPEG files under train2017/ and val2017/ and the
annotations/instances_{train,val}2017.json files mmdet's CocoDataset reads.
The objects are circles, rectangles, triangles and crosses drawn with random
colours, sizes and positions, often overlapping; masks (polygons, RLE and a
few iscrowd regions) describe the visible parts (see
hornet_mm/datasets/synthetic/coco.py).
"""


def _add_coco(subparsers) -> None:
    _sub_command(subparsers, 'coco', COCO, 200, 50, _write_coco)


def _write_coco(args: argparse.Namespace) -> None:
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


COCO_PANOPTIC = """\
Write a small, seeded, learnable COCO-panoptic-format set.

train2017/ and val2017/ (JPEG), annotations/panoptic_{train,val}2017.json
with the RGB-encoded segment PNGs in annotations/panoptic_{train,val}2017/,
and annotations/instances_{train,val}2017.json for the thing categories, as
mmdet's COCO panoptic configs expect. Things are drawn shapes, stuff is the
sky and the ground behind them (see hornet_mm/datasets/synthetic/panoptic.py).
"""


def _add_coco_panoptic(subparsers) -> None:
    _sub_command(subparsers, 'coco-panoptic', COCO_PANOPTIC, 200, 50,
                 _write_coco_panoptic)


def _write_coco_panoptic(args: argparse.Namespace) -> None:
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


ADE = """\
Write a small, seeded, learnable ADE20K-format semantic-segmentation set.

images/{training,validation}/*.jpg and annotations/{training,validation}/*.png
(single-channel label maps, 0 = "other", k = the k-th class) as in
ADEChallengeData2016. The scenes show a sky, a band of mountains ("other"),
the ground and drawn shapes (see hornet_mm/datasets/synthetic/ade.py).
"""


def _add_ade(subparsers) -> None:
    _sub_command(subparsers, 'ade', ADE, 240, 60, _write_ade)


def _write_ade(args: argparse.Namespace) -> None:
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


def main(argv: Optional[List[str]] = None) -> int:
    """Run ``argv`` (default: the command line), e.g. ``['coco', 'out']``."""
    parser = argparse.ArgumentParser(
        prog=osp.basename(__file__),
        description=__doc__.split('\n')[0],
        epilog=__doc__.partition('\n')[2].strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(
        title='kinds', dest='kind', metavar='KIND', required=True)
    for add in (_add_imagenet, _add_coco, _add_coco_panoptic, _add_ade):
        add(subparsers)
    args = parser.parse_args(argv)
    args.write(args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
