"""Detect objects in image files and save pictures with boxes, masks, labels.

Example:
    python tools/demo/image_demo.py demo.jpg other.jpg \
        CONFIG --weights work_dirs/.../epoch_12.pth --out-dir outputs
"""
import argparse
import json
import sys

from hornet_mm.apis import detect_images


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'images', nargs='+', help='image files or directories of them')
    parser.add_argument('config', help='mmdet config of the detector')
    parser.add_argument('--weights', help='checkpoint of the detector')
    parser.add_argument('--out-dir', default='outputs')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    try:
        results = detect_images(
            args.images,
            args.config,
            args.weights,
            args.out_dir,
            score_thr=args.score_thr,
            device=args.device)
    except (FileNotFoundError, ValueError) as err:
        sys.stderr.write(f'error: {err}\n')
        return 1
    for result in results:
        sys.stdout.write(f"{result['image']} -> {result['picture']}: "
                         f"{len(result['instances'])} instances\n")
        for inst in result['instances']:
            box = ', '.join(f'{v:.0f}' for v in inst['bbox'])
            sys.stdout.write(f"  {inst['score']:.2f} {inst['label']} "
                             f'[{box}]\n')
    with open(f'{args.out_dir}/results.json', 'w') as f:
        json.dump(results, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
