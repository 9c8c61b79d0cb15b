"""Draw what a config's data pipeline feeds the model, as mmdet's and
mmseg's ``browse_dataset.py`` do, for every hornet_mm config family.

Each sample goes through the dataset's pipeline of the chosen phase (for
``train``: the augmentations, random crops and flips included) and is drawn
by the config's visualizer with its targets: boxes, masks and labels
(mmdet), label maps (mmseg), the class (mmpretrain). Batch augmentations
of the data preprocessor (mixup, cutmix, normalisation) come later and are
not shown.

Example::

    python tools/analysis_tools/browse_dataset.py CONFIG \\
        --output-dir work_dirs/browse --not-show --max-images 8 --seed 0
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

import numpy as np
from mmengine.config import DictAction


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw the samples a config\'s pipeline produces')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--output-dir', help='write the pictures here (one PNG per sample)')
    parser.add_argument(
        '--phase',
        choices=['train', 'val', 'test'],
        default='train',
        help='which dataloader\'s dataset and pipeline')
    parser.add_argument(
        '--not-show', action='store_true', help='do not open a window')
    parser.add_argument(
        '--show-interval', type=float, default=2, help='seconds per picture')
    parser.add_argument(
        '--max-images',
        type=int,
        default=None,
        help='draw only the first N samples')
    parser.add_argument(
        '--seed',
        type=int,
        default=None,
        help='seed the random augmentations (the same pictures each run)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value pairs')
    args = parser.parse_args(argv)
    if args.not_show and not args.output_dir:
        parser.error('--not-show without --output-dir would draw nothing')
    return args


def _image(inputs) -> np.ndarray:
    """The packed ``(C, H, W)`` BGR tensor as an ``(H, W, 3)`` RGB array."""
    image = inputs.numpy().transpose(1, 2, 0)
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image[..., ::-1])


def _drawable_instances(sample) -> None:
    """Boxes as tensors and masks as bool arrays, which mmdet's visualizer
    draws (the pipeline packs box and mask structures)."""
    from mmdet.structures.bbox import BaseBoxes
    from mmdet.structures.mask import BaseInstanceMasks
    instances = sample.get('gt_instances')
    if instances is None:
        return
    boxes = instances.get('bboxes')
    if isinstance(boxes, BaseBoxes):
        instances.bboxes = boxes.tensor
    masks = instances.get('masks')
    if isinstance(masks, BaseInstanceMasks):
        instances.masks = masks.to_ndarray().astype(bool)
    sample.gt_instances = instances


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from mmengine.registry import DATASETS, VISUALIZERS, init_default_scope
    from mmengine.utils import ProgressBar, import_modules_from_strings

    from hornet_mm.utils.cli import load_config
    try:
        cfg = load_config(args.config, args.cfg_options)
        scope = cfg.get('default_scope') or 'mmpretrain'
        init_default_scope(scope)
        if cfg.get('custom_imports'):
            import_modules_from_strings(**cfg.custom_imports)
        loader = cfg.get(f'{args.phase}_dataloader')
        if not loader:
            raise ValueError(f'{args.config} has no {args.phase}_dataloader')
        dataset = DATASETS.build(loader.dataset)
    except (FileNotFoundError, ValueError, KeyError) as err:
        sys.stderr.write(f'error: {err}\n')
        return 1
    if not len(dataset):
        sys.stderr.write(f'error: the {args.phase} dataset is empty\n')
        return 1
    vis_cfg = cfg.visualizer.copy()
    vis_cfg['name'] = f'browse_dataset_{os.getpid()}_{id(dataset)}'
    vis_cfg.pop('vis_backends', None)  # pictures go to --output-dir only
    visualizer = VISUALIZERS.build(vis_cfg)
    visualizer.dataset_meta = dataset.metainfo
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
    count = len(dataset) if args.max_images is None else min(
        args.max_images, len(dataset))
    if args.seed is not None:
        from mmengine.runner import set_random_seed
        set_random_seed(args.seed)
    progress = ProgressBar(count)
    for index in range(count):
        item = dataset[index]
        sample = item['data_samples']
        image = _image(item['inputs'])
        path = sample.get('img_path') or f'{index:06d}'
        name = f'{index:06d}_{osp.splitext(osp.basename(path))[0]}'
        out_file = osp.join(args.output_dir, f'{name}.png') \
            if args.output_dir else None
        show = not args.not_show
        if scope == 'mmpretrain':
            visualizer.visualize_cls(
                image,
                sample,
                classes=dataset.metainfo.get('classes'),
                draw_gt=True,
                draw_pred=False,
                show=show,
                wait_time=args.show_interval,
                out_file=out_file,
                name=name)
        else:
            if scope == 'mmdet':
                _drawable_instances(sample)
            visualizer.add_datasample(
                name,
                image,
                sample,
                draw_gt=True,
                draw_pred=False,
                show=show,
                wait_time=args.show_interval,
                out_file=out_file)
        progress.update()
    sys.stdout.write(f'\n{count} {args.phase} samples drawn'
                     f'{f" to {args.output_dir}" if args.output_dir else ""}'
                     '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
