"""Classify image files with a config and a checkpoint; print the top-k.

Example:
    python tools/inference.py demo.jpg other.png \
        --config configs/hornet/hornet-tiny-gf_8xb128_in1k.py \
        --checkpoint checkpoints/hornet-tiny-gf_in1k.pth --topk 5
"""
import argparse
import json
import sys

from hornet_mm.apis import classify_images


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'images', nargs='+', help='image files or directories of them')
    parser.add_argument('--config', required=True, help='classifier config')
    parser.add_argument('--checkpoint', help='weights (default: none)')
    parser.add_argument('--topk', type=int, default=5)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--out', help='also write the results as JSON here')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    try:
        results = classify_images(
            args.images,
            args.config,
            args.checkpoint,
            topk=args.topk,
            device=args.device)
    except (FileNotFoundError, ValueError) as err:
        sys.stderr.write(f'error: {err}\n')
        return 1
    for result in results:
        sys.stdout.write(f"{result['image']}\n")
        for rank, (index, name, score) in enumerate(result['topk'], 1):
            label = f'{index} {name}' if name else str(index)
            sys.stdout.write(f'  {rank}. {score:.4f}  {label}\n')
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
