"""Export a classifier, segmentor or detector to ONNX; check it in ONNX
Runtime.

What the file holds (see :mod:`hornet_mm.deployment.onnx_export`):
classifiers whole (softmax scores out); segmentors at one input size
(logits at the input size, or ``--seg-output argmax``; sliding windows, TTA
and the resize to the original image stay in the caller); detectors as
backbone + neck + RPN head, finished in PyTorch by
``hornet_mm.deployment.OnnxTwoStageDetector``. The input is the data
preprocessor's output (normalised, in the config's channel order).

``--verify`` runs the file in ONNX Runtime (CPU) on a random batch and on a
real picture (``--image``, or a generated one) and compares with PyTorch;
a difference above ``--tolerance`` (relative to the output's scale) is an
error and the file is not written.

Examples::

    python tools/deployment/pytorch2onnx.py \\
        configs/hornet/hornet-tiny-gf_8xb128_in1k.py \\
        checkpoints/hornet-tiny-gf_in1k.pth hornet-t-gf.onnx --verify
    python tools/deployment/pytorch2onnx.py \\
        configs/segmentation/hornet-tiny_upernet_8xb2-160k_ade20k-512x512.py \\
        upernet.pth upernet.onnx --shape 512 512 --seg-output argmax --verify
"""
import argparse
import json
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import DictAction

#: Default input size (H, W) per model kind when neither --shape nor the
#: config gives one: mmpretrain's 224, mmseg's 512 crop, mmdet's 800x1333
#: test scale padded to the next multiple of 32.
DEFAULT_SHAPES: Dict[str, Tuple[int, int]] = {
    'classifier': (224, 224),
    'segmentor': (512, 512),
    'detector': (800, 1344),
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a model to ONNX and check it in ONNX Runtime')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file (hornet_mm '
        'layout: trained here or converted)')
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        help='input H W, or one value for a square, multiples of 32 '
        '(default: the config\'s crop_size for segmentors, else 224 for '
        'classifiers, 512 512 for segmentors, 800 1344 for detectors)')
    parser.add_argument(
        '--batch-size', type=int, default=1, help='batch of the graph')
    parser.add_argument(
        '--dynamic-batch',
        action='store_true',
        help='leave the batch axis free')
    parser.add_argument(
        '--dynamic-shape',
        action='store_true',
        help='leave height and width free (classifiers without global '
        'filters; the others export for one size)')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset')
    parser.add_argument(
        '--seg-output',
        choices=['logits', 'argmax'],
        default='logits',
        help='segmentor output: logits at the input size or the label map')
    parser.add_argument(
        '--verify',
        action='store_true',
        help='compare ONNX Runtime (CPU) with PyTorch on a random batch and '
        'a real picture; fail above --tolerance')
    parser.add_argument(
        '--image',
        help='picture for --verify (default: a generated one of shapes on '
        'a textured background)')
    parser.add_argument(
        '--tolerance',
        type=float,
        default=1e-4,
        help='largest difference allowed, relative to the output\'s largest '
        'magnitude (at least 1); for --seg-output argmax, the share of '
        'pixels allowed to differ')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value pairs')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='unpickle arbitrary objects in the checkpoint (trusted files '
        'only)')
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    if args.shape is not None and len(args.shape) not in (1, 2):
        parser.error(f'--shape takes H W or one value, got {args.shape}')
    return args


def input_shape(args: argparse.Namespace, cfg, task: str) -> Tuple[int, int]:
    """``--shape``, else the config's crop size (segmentors), else the
    default of the model kind."""
    if args.shape:
        return (args.shape[0], args.shape[-1])
    crop = cfg.get('crop_size') if task == 'segmentor' else None
    if crop:
        return (int(crop[0]), int(crop[1]))
    return DEFAULT_SHAPES[task]


def verify_inputs(model, args: argparse.Namespace, shape: Tuple[int, int],
                  task: str) -> Dict[str, torch.Tensor]:
    """The batches --verify compares on: random normal values and a real
    picture through the data preprocessor; with a free batch axis also a
    batch one larger, with free spatial axes also a size 32 larger."""
    from hornet_mm.deployment import preprocess_image
    gen = torch.Generator().manual_seed(0)
    height, width = shape
    inputs = {
        'random':
        torch.randn(args.batch_size, 3, height, width, generator=gen)
    }
    if args.image:
        picture = args.image
    else:
        from hornet_mm.datasets.synthetic.painting import draw_shapes
        picture = draw_shapes(np.random.default_rng(0))[0]  # uint8 BGR
    inputs['image'] = preprocess_image(model, picture, shape, args.batch_size)
    if args.dynamic_batch:
        inputs[f'random batch {args.batch_size + 1}'] = torch.randn(
            args.batch_size + 1, 3, height, width, generator=gen)
    if args.dynamic_shape:
        inputs[f'random {height + 32}x{width + 32}'] = torch.randn(
            args.batch_size, 3, height + 32, width + 32, generator=gen)
    return inputs


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from hornet_mm.deployment import (ExportError, VerificationError,
                                      export_onnx, load_export_model,
                                      model_task, verify_onnx)
    from hornet_mm.utils.atomic import atomic_path
    try:
        if not args.out.endswith('.onnx'):
            raise ExportError(f'Output file must end in .onnx: {args.out}')
        out_dir = osp.dirname(osp.abspath(args.out))
        if not osp.isdir(out_dir):
            raise ExportError(f'Output directory does not exist: {out_dir}')
        model, cfg = load_export_model(args.config, args.checkpoint,
                                       args.cfg_options, args.unsafe_load)
        task = model_task(model)
        shape = input_shape(args, cfg, task)
        start = time.perf_counter()
        with atomic_path(args.out) as tmp:
            summary = export_onnx(
                model,
                tmp,
                shape=shape,
                task=task,
                batch_size=args.batch_size,
                dynamic_batch=args.dynamic_batch,
                dynamic_shape=args.dynamic_shape,
                opset=args.opset,
                seg_output=args.seg_output)
            summary['export_s'] = round(time.perf_counter() - start, 2)
            if args.verify:
                summary['verify'] = verify_onnx(
                    tmp,
                    model,
                    verify_inputs(model, args, shape, task),
                    task=task,
                    tolerance=args.tolerance,
                    seg_output=args.seg_output)
            summary['size_mb'] = round(osp.getsize(tmp) / 2**20, 2)
    except (ExportError, VerificationError, FileNotFoundError,
            ValueError) as err:
        sys.stderr.write(f'error: export failed: {err}\n')
        return 1
    summary['file'] = args.out
    print(f'[pytorch2onnx] {task} exported to {args.out} '
          f'({summary["size_mb"]} MB, input 1x3x{shape[0]}x{shape[1]}'
          f'{", free batch" if args.dynamic_batch else ""}'
          f'{", free size" if args.dynamic_shape else ""}, outputs '
          f'{", ".join(summary["outputs"][:3])}'
          f'{" ..." if len(summary["outputs"]) > 3 else ""})')
    for label, diff in summary.get('verify', {}).items():
        print(f'[pytorch2onnx] verified on the {label} input: largest '
              f'difference {diff["max_abs"]:.3g} (relative '
              f'{diff["relative"]:.3g}, output {diff["output"]}) <= '
              f'tolerance {args.tolerance:g}')
    print(json.dumps(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
