"""Count the FLOPs and parameters of a model from an mmpretrain, mmdet or
mmseg config, the FFTs of HorNet's global filter included.

The library is the config's ``default_scope`` (``--scope`` overrides it;
mmpretrain when neither is set). The model is built without loading any
checkpoint, put in eval mode and traced once on a random input with
:func:`hornet_mm.analysis.flops.count_flops` (one multiply-add = one flop).

* Classifiers (mmpretrain): a ``(1, 3, H, W)`` input; the tensor-mode
  forward (backbone, neck, head) is traced, except under
  ``--convention published``, which traces ``extract_feat`` only, as the
  published HorNet tables did. Default shape 224 x 224.
* Detectors (mmdet): one random image goes through the model's
  ``data_preprocessor`` (normalisation, padding to its size divisor). By
  default (``--det-mode dummy``) two-stage detectors are counted as mmdet
  2.x's ``forward_dummy`` ran them, which is how the published HorNet
  detection FLOPs were counted: backbone, neck and RPN head on the image,
  every box head on 1000 RoIs, every mask head on 100. ``--det-mode tensor``
  traces mmdet 3.x's tensor-mode forward instead, whose RoI heads run on the
  RPN's proposals (Cascade's mask heads on all of them, so far more).
  Default ``--shape 1280 800``.
* Segmentors (mmseg): likewise; the auxiliary head is dropped (it is not in
  the tensor-mode forward, and its parameters are not counted), as in
  mmseg's own tool; a second line gives the parameters with it, which is
  how the published HorNet UperNet sizes were counted. Default shape: the
  ``scale`` of the ``Resize`` in the config's test pipeline read as ``H W``
  (``2048 512`` for mmseg's ADE20K 512 settings, ``2560 640`` for 640),
  which is how the HorNet release counted its UperNet FLOPs; ``2048 512``
  when the config has none.

``--shape`` is ``H W`` (one value: square) for every library, the order of
the input tensor, which is how mmpretrain's and mmseg's tools and the HorNet
release's detection tool read it: the detection default ``1280 800`` is the
``(1, 3, 1280, 800)`` input the release's FLOPs were counted on (a landscape
1280 x 800 image is ``--shape 800 1280``; same pixel count, same count up to
the padding). The printed input shape is the traced tensor's.

Example:
    python tools/analysis_tools/get_flops.py \
        configs/hornet/hornet-tiny-gf_8xb128_in1k.py
    python tools/analysis_tools/get_flops.py \
        configs/hornet/hornet-tiny-gf_8xb128_in1k.py --convention published
"""
import argparse
import importlib
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.config import DictAction
from mmengine.model import BaseModel, revert_sync_batchnorm
from mmengine.registry import init_default_scope

from hornet_mm.analysis.flops import CONVENTIONS, count_flops
from hornet_mm.utils.cli import load_config

DEFAULT_SHAPES: Dict[str, Tuple[int, int]] = {
    'mmpretrain': (224, 224),
    'mmdet': (1280, 800),
    'mmseg': (2048, 512),
}

CONVENTION_NOTES: Dict[str, str] = {
    'release': "the HorNet release's calc_flops.py, FFT included",
    'published': 'the published tables: conv + bias, linear; no FFT',
    'mmengine': "mmengine's defaults + the release's FFT rule",
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Count the FLOPs and parameters of a model (FFTs '
        'included)')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        help='input size H W, or one value for a square input (default: '
        '224 224 for mmpretrain, 1280 800 for mmdet; for mmseg the test '
        'Resize scale, else 2048 512)')
    parser.add_argument(
        '--convention',
        choices=CONVENTIONS,
        default='release',
        help='what is counted (see hornet_mm/analysis/flops.py): release = '
        'the HorNet release\'s calc_flops.py (default), published = the '
        'published model-zoo tables, mmengine = mmengine\'s defaults plus '
        'the FFT rule')
    parser.add_argument(
        '--det-mode',
        choices=['dummy', 'tensor'],
        default='dummy',
        help='two-stage detectors: dummy = box heads on 1000 RoIs and mask '
        'heads on 100, as the published FLOPs were counted (default); '
        'tensor = mmdet 3.x\'s tensor-mode forward on the RPN proposals')
    parser.add_argument(
        '--scope',
        help='library of the config (mmpretrain, mmdet or mmseg); default: '
        'the config\'s default_scope, else mmpretrain')
    parser.add_argument(
        '--max-depth',
        type=int,
        help='also print a per-module table down to this depth')
    parser.add_argument(
        '--device', default='cpu', help='device to trace on (default: cpu)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs as in the '
        'train and test tools')
    return parser.parse_args(argv)


def _test_resize_scale(cfg: Any) -> Optional[Tuple[int, int]]:
    """The ``scale`` of the first ``Resize`` of the test pipeline."""
    loader = cfg.get('test_dataloader') or {}
    pipeline = loader.get(
        'dataset', {}).get('pipeline') or cfg.get('test_pipeline') or []
    for transform in pipeline:
        if transform.get('type') == 'Resize' and transform.get('scale'):
            return tuple(transform['scale'])
    return None


def input_size(shape: Optional[List[int]],
               scope: str,
               cfg: Any = None) -> Tuple[int, int]:
    """``(H, W)`` from ``--shape`` or the library's default."""
    if shape is None:
        if scope == 'mmseg' and cfg is not None:
            scale = _test_resize_scale(cfg)
            if scale is not None:
                return scale
        return DEFAULT_SHAPES.get(scope, DEFAULT_SHAPES['mmpretrain'])
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    raise ValueError(f'--shape takes H W or one value, got {shape}')


def _preprocessed(model: nn.Module, sample: Any, height: int,
                  width: int) -> Tuple[torch.Tensor, Any]:
    """Run one random image through the model's data preprocessor."""
    image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8)
    data = model.data_preprocessor(
        dict(inputs=[image], data_samples=[sample]), training=False)
    return data['inputs'], data['data_samples']


def dummy_two_stage_forward(model: nn.Module,
                            inputs: torch.Tensor,
                            num_rois: int = 1000,
                            num_mask_rois: int = 100) -> List[torch.Tensor]:
    """The work mmdet 2.x's ``forward_dummy`` did for two-stage detectors.

    Backbone, neck and RPN head on the image; every stage's box head on
    ``num_rois`` fixed RoIs and every stage's mask head on the first
    ``num_mask_rois`` of them. The published HorNet detection FLOPs were
    counted this way.
    """
    feats = model.extract_feat(inputs)
    outs = list(model.rpn_head(feats)[0])
    height, width = inputs.shape[-2:]
    gen = torch.Generator().manual_seed(0)
    corners = torch.rand(num_rois, 2, 2, generator=gen)
    corners = corners * torch.tensor([width, height], dtype=torch.float32)
    boxes = torch.cat([corners.min(1).values, corners.max(1).values], dim=1)
    rois = torch.cat([boxes.new_zeros(num_rois, 1), boxes], dim=1)
    rois = rois.to(inputs.device)
    roi_head = model.roi_head
    stages = range(getattr(roi_head, 'num_stages', 1))
    cascade = hasattr(roi_head, 'num_stages')
    for stage in stages:
        args = (stage, feats, rois) if cascade else (feats, rois)
        outs.append(roi_head._bbox_forward(*args)['cls_score'])
    if getattr(roi_head, 'with_mask', False):
        for stage in stages:
            mask_rois = rois[:num_mask_rois]
            args = (stage, feats, mask_rois) if cascade else (feats, mask_rois)
            outs.append(roi_head._mask_forward(*args)['mask_preds'])
    return outs


def trace_setup(
        model: nn.Module,
        scope: str,
        height: int,
        width: int,
        convention: str,
        device: str,
        det_mode: str = 'dummy'
) -> Tuple[torch.Tensor, Callable[..., Any], str]:
    """Inputs, the callable to trace and a note on what it covers."""
    meta = dict(img_shape=(height, width), ori_shape=(height, width))
    if scope == 'mmdet':
        from mmdet.structures import DetDataSample
        sample = DetDataSample(metainfo=dict(meta, scale_factor=(1.0, 1.0)))
        inputs, samples = _preprocessed(model, sample, height, width)
        if det_mode == 'dummy' and hasattr(model, 'roi_head'):
            return inputs, partial(dummy_two_stage_forward, model), (
                'dummy forward of the published counts: box heads on 1000 '
                'RoIs, mask heads on 100')
        return inputs, partial(
            model.forward, data_samples=samples,
            mode='tensor'), ('tensor-mode forward after the data '
                             'preprocessor, RoI heads on the RPN proposals')
    if scope == 'mmseg':
        from mmseg.structures import SegDataSample
        sample = SegDataSample(metainfo=dict(meta, pad_shape=(height, width)))
        inputs, samples = _preprocessed(model, sample, height, width)
        return inputs, partial(
            model.forward, data_samples=samples,
            mode='tensor'), ('tensor-mode forward after the data '
                             'preprocessor, no auxiliary head')
    inputs = torch.rand(1, 3, height, width, device=device)
    if convention == 'published' and hasattr(model, 'extract_feat'):
        return inputs, model.extract_feat, 'extract_feat (no head)'
    if isinstance(model, BaseModel):
        return inputs, partial(
            model.forward, mode='tensor'), 'tensor-mode forward'
    return inputs, model.forward, 'forward'


def build_model(cfg: Any, scope: str, device: str) -> nn.Module:
    """Build ``cfg.model`` from the library's registry, in eval mode."""
    init_default_scope(scope)
    registry = importlib.import_module(f'{scope}.registry')
    model = registry.MODELS.build(cfg.model)
    model.params_with_auxiliary_head = sum(p.numel()
                                           for p in model.parameters())
    if scope == 'mmseg' and getattr(model, 'auxiliary_head', None):
        model.auxiliary_head = None
    model = revert_sync_batchnorm(model)
    return model.to(device).eval()


def format_report(config: str,
                  scope: str,
                  result: Dict[str, Any],
                  traced: str,
                  params_with_aux: Optional[int] = None) -> str:
    """The lines printed for one count."""
    line = '=' * 60
    unsupported = ', '.join(
        f'{op} x{n}' for op, n in sorted(result['unsupported_ops'].items()))
    rows = [
        line,
        f'Config:       {config}',
        f'Scope:        {scope}',
        f'Traced:       {traced}',
        f'Input shape:  {tuple(result["input_shape"])}',
        f'Convention:   {result["convention"]} '
        f'({CONVENTION_NOTES[result["convention"]]})',
        f'FLOPs:        {result["flops"] / 1e9:.2f} G '
        f'({result["flops"]:,})',
        f'  of which FFT: {result["fft_flops"] / 1e9:.4f} G',
        f'Params:       {result["params"] / 1e6:.2f} M '
        f'({result["params"]:,})',
        f'Not counted (no rule): {unsupported or "-"}',
        line,
    ]
    if params_with_aux is not None and params_with_aux != result['params']:
        rows.insert(
            -2,
            f'Params with the auxiliary head: {params_with_aux / 1e6:.2f} M '
            f'({params_with_aux:,})')
    return '\n'.join(rows)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    scope = args.scope or cfg.get('default_scope') or 'mmpretrain'
    height, width = input_size(args.shape, scope, cfg)
    model = build_model(cfg, scope, args.device)
    inputs, forward, traced = trace_setup(model, scope, height, width,
                                          args.convention, args.device,
                                          args.det_mode)
    result = count_flops(
        model,
        inputs=inputs,
        forward=forward,
        convention=args.convention,
        max_depth=args.max_depth)
    if result['table'] is not None:
        print(result['table'])
    result['params_with_auxiliary_head'] = model.params_with_auxiliary_head
    print(
        format_report(args.config, scope, result, traced,
                      model.params_with_auxiliary_head))
    return result


if __name__ == '__main__':
    main()
