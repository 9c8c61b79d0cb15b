"""Time mmdet's RoI extractor with mmcv's RoIAlign against
``hornet_mm.SingleRoIExtractor`` (the vectorised CPU RoIAlign).

The cases are the RoI extractions of a Mask R-CNN training step: the box
branch (7 x 7) and the mask branch (14 x 14), on FPN levels of stride 4 to
32, for

* ``main-job``: the main job's detector (4 images at 224 x 320, 64
  channels, sampling ratio 2, 4 x 64 sampled RoIs and 4 x 16 positives);
* ``coco``: Mask R-CNN 1x at 800 x 1344, batch 1 (256 channels, adaptive
  sampling, 512 sampled RoIs and 128 positives).

RoIs are random boxes of 8 to 60% of the image side. ``forward`` times the
extraction, ``train`` the extraction and its backward. Cases are
interleaved round by round (``hornet_mm.analysis.benchmark.run_cases``);
the table gives median, min and max, and throughput ratios against mmcv.

Example::

    python tools/analysis_tools/benchmark_roi_align.py --threads 2
"""
import argparse
import sys

import torch

from hornet_mm.analysis.benchmark import (Case, cpu_description, format_ratios,
                                          format_results, run_cases)

# name: image (h, w), batch, channels, sampling ratio, (7x7 RoIs, 14x14 RoIs)
SHAPES = {
    'main-job': ((224, 320), 4, 64, 2, (256, 64)),
    'coco': ((800, 1344), 1, 256, 0, (512, 128)),
}
STRIDES = (4, 8, 16, 32)
KEYS = ('mode', 'shape', 'branch')


def _rois(gen: torch.Generator, count: int, batch: int, height: int,
          width: int) -> torch.Tensor:
    side = min(height, width)
    size = (0.08 + 0.52 * torch.rand(count, 2, generator=gen)) * side
    x1 = torch.rand(count, generator=gen) * (width - size[:, 0])
    y1 = torch.rand(count, generator=gen) * (height - size[:, 1])
    index = torch.randint(0, batch, (count, ), generator=gen).float()
    return torch.stack([index, x1, y1, x1 + size[:, 0], y1 + size[:, 1]], 1)


def build_cases(shapes, modes):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cases = []
    gen = torch.Generator().manual_seed(0)
    for name in shapes:
        (height, width), batch, channels, ratio, counts = SHAPES[name]
        feats = [
            torch.randn(
                batch,
                channels,
                -(-height // s),
                -(-width // s),
                generator=gen,
                requires_grad=True) for s in STRIDES
        ]
        for out_size, count in zip((7, 14), counts):
            rois = _rois(gen, count, batch, height, width)
            grad = torch.randn(
                count, channels, out_size, out_size, generator=gen)
            extractors = {
                model:
                MODELS.build(
                    dict(
                        type=kind,
                        roi_layer=dict(
                            type='RoIAlign',
                            output_size=out_size,
                            sampling_ratio=ratio),
                        out_channels=channels,
                        featmap_strides=list(STRIDES)))
                for model, kind in (('mmcv', 'SingleRoIExtractor'),
                                    ('hornet_mm',
                                     'hornet_mm.SingleRoIExtractor'))
            }
            _check_agreement(extractors, feats, rois, grad,
                             f'{name} {out_size}x{out_size}')
            for model, extractor in extractors.items():
                for mode in modes:
                    cases.append(
                        Case(
                            model,
                            dict(
                                mode=mode,
                                shape=name,
                                branch=f'{out_size}x{out_size}'), count,
                            _step(extractor, feats, rois, grad, mode)))
    return cases


def _check_agreement(extractors, feats, rois, grad, label, atol=1e-4) -> None:
    """Timings of different computations are worthless: both extractors'
    outputs and input gradients must agree before anything is timed."""
    results = []
    for extractor in extractors.values():
        out = extractor(feats, rois)
        grads = torch.autograd.grad(out, feats, grad)
        results.append((out.detach(), grads))
    (ref_out, ref_grads), (out, grads) = results
    diff = max([(out - ref_out).abs().max().item()] +
               [(g - r).abs().max().item() for g, r in zip(grads, ref_grads)])
    if diff > atol:
        raise SystemExit(f'{label}: the extractors disagree by {diff:.3g} '
                         f'(> {atol}); not timing them')
    print(f'{label}: outputs and gradients agree (max |diff| {diff:.2g})')


def _step(extractor, feats, rois, grad, mode):

    def forward():
        with torch.no_grad():
            extractor(feats, rois)

    def train():
        out = extractor(feats, rois)
        torch.autograd.grad(out, feats, grad)

    return forward if mode == 'forward' else train


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--shapes', nargs='+', choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument(
        '--modes',
        nargs='+',
        choices=['forward', 'train'],
        default=['forward', 'train'])
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=10)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.warmup < 0 or args.repeats < 1:
        raise SystemExit('--warmup must be >= 0 and --repeats >= 1')
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f'CPU: {cpu_description()}, {torch.get_num_threads()} threads, '
          f'torch {torch.__version__}')
    cases = build_cases(args.shapes, args.modes)
    run_cases(cases, args.warmup, args.repeats)
    print('(batch: RoIs per extraction)')
    print(format_results(cases, KEYS, unit='RoIs/s'))
    print()
    print(format_ratios(cases, 'mmcv', KEYS))
    return 0


if __name__ == '__main__':
    sys.exit(main())
