"""Released HorNet detectors and segmentors on the OpenMMLab 2.0 stack.

The official release ships Cascade Mask R-CNN detectors trained with mmdet 2.x
and UperNet segmentors trained with mmseg 0.x, both written by mmcv 1.x:
``{'state_dict': ..., 'meta': {'CLASSES', 'PALETTE', 'config', ...}}``. This
module turns such a file into an mmengine checkpoint for the matching hornet_mm
config (mmdet 3.x / mmseg 1.x).

Key differences between the 1.x-stack models and hornet_mm's, all handled by
:func:`convert_dense_state_dict` (every other key has the same name and shape
in mmdet 2.28 / 3.3 and mmseg 0.30 / 1.2: ``neck.lateral_convs``,
``neck.fpn_convs``, ``rpn_head.rpn_{conv,cls,reg}``,
``roi_head.bbox_head[.i].{shared_convs,shared_fcs,fc_cls,fc_reg}``,
``roi_head.mask_head[.i].{convs,upsample,conv_logits}``,
``decode_head.{psp_modules,bottleneck,lateral_convs,fpn_convs,fpn_bottleneck,
conv_seg}``, ``auxiliary_head.{convs,conv_seg}``; the key lists written by the
1.x stack in ``tests/data/oracle`` are checked against the 2.0 models):

* ``backbone.*`` in the official release's layout is hornet_mm's; the mmcls
  0.x layout (``gnconv.projs.i``, ``gamma1.weight``) is renamed.
* The release's decoder gnConv (``GNConvModule``, in the gnConv FPN and the
  gnConv UPerNet head) names its norm after mmcv's abbreviation (``bn``,
  ``gn``, ``ln``, ``in``); hornet_mm's :class:`~hornet_mm.models.layers.GnConv`
  calls it ``norm``. Its activation (``activate``) has no parameters.
* A ``module.`` prefix (a checkpoint saved from the DDP wrapper) is dropped.
* ``meta['CLASSES']`` / ``meta['PALETTE']`` become ``meta['dataset_meta']``
  (``classes``, ``palette``), which mmdet 3.x and mmseg 1.x read.
"""
import copy
import functools
import os
import os.path as osp
import re
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from hornet_mm.models.backbones.hornet import (HorNet,
                                               convert_hornet_state_dict,
                                               infer_hornet_arch,
                                               unwrap_checkpoint)
from hornet_mm.utils.atomic import save_torch_atomic
from hornet_mm.version import __version__
from .checkpoint import arch_name_of, check_destination, load_checkpoint_file

__all__ = [
    'convert_dense_state_dict', 'describe_state_dict', 'state_dict_mismatch',
    'build_model_skeleton', 'find_matching_configs', 'convert_released_model',
    'convert_loaded_model', 'read_released_checkpoint', 'is_dense_state_dict'
]

# mmcv 1.x ``build_norm_layer`` abbreviations (with an optional postfix).
_NORM_NAME = re.compile(r'^(bn|gn|ln|in)\d*$')


def convert_dense_state_dict(
        state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Map a 1.x-stack HorNet detector/segmentor state dict to hornet_mm's.

    Pure and idempotent: an already converted dict passes through unchanged.

    Args:
        state_dict: ``backbone.*`` (official or mmcls 0.x layout) plus the
            keys of the neck and heads.

    Returns:
        A new dict in hornet_mm's layout.
    """
    state_dict = {
        (k[len('module.'):] if k.startswith('module.') else k): v
        for k, v in state_dict.items()
    }
    backbone = {
        k: v
        for k, v in state_dict.items() if k.startswith('backbone.')
    }
    if not backbone:
        raise ValueError('Not a HorNet detector or segmentor: no backbone.* '
                         'keys')
    converted = dict(convert_hornet_state_dict(backbone))
    # decoder gnConvs: every non-backbone module that owns a proj_in
    gnconv_prefixes = {
        k[:-len('proj_in.weight')]
        for k in state_dict
        if k.endswith('.proj_in.weight') and not k.startswith('backbone.')
    }
    for key, value in state_dict.items():
        if key.startswith('backbone.'):
            continue
        for prefix in gnconv_prefixes:
            if key.startswith(prefix):
                head, _, rest = key[len(prefix):].partition('.')
                if _NORM_NAME.match(head):
                    key = f'{prefix}norm.{rest}'
                break
        if key in converted:
            raise ValueError(f'Two checkpoint keys convert to {key}')
        converted[key] = value
    return converted


def _gnconv_mixer(state_dict: Dict[str, torch.Tensor], prefix: str) -> str:
    weight = state_dict.get(prefix + 'dwconv.complex_weight')
    if weight is not None:
        return f'GF {weight.shape[1]}x{weight.shape[2]}'
    kernel = state_dict[prefix + 'dwconv.weight'].shape[-1]
    return f'{kernel}x{kernel}'


def _count_indices(state_dict: Dict[str, torch.Tensor], prefix: str) -> int:
    """How many numbered submodules ``prefix{i}.`` the state dict has."""
    return len({
        k[len(prefix):].split('.')[0]
        for k in state_dict if k.startswith(prefix)
    })


def describe_state_dict(state_dict: Dict[str, torch.Tensor]) -> str:
    """One line naming what a converted state dict holds.

    E.g. ``'HorNet tiny-gf (GF 14x8, 7x4), Cascade R-CNN (3 stages, box heads
    4conv1fc, mask head), FPN, 80 classes'``.
    """
    sd = state_dict
    parts = []
    try:
        arch = infer_hornet_arch(sd)
    except ValueError:
        parts.append('no HorNet backbone')
    else:
        name = arch_name_of(arch) or \
            f"custom (base_dim {arch['base_dim']}, depths {arch['depths']})"
        gf = [
            f"{m['h']}x{m['w']}" for m in arch['dw_cfg'] if m['type'] == 'GF'
        ]
        parts.append(f'HorNet {name}' +
                     (f" (GF {', '.join(gf)})" if gf else ''))

    if any(k.startswith('roi_head.') for k in sd):
        stages = sorted({
            int(m.group(1))
            for k in sd
            for m in [re.match(r'roi_head\.bbox_head\.(\d+)\.', k)] if m
        })
        box = 'roi_head.bbox_head.0.' if stages else 'roi_head.bbox_head.'
        convs = _count_indices(sd, box + 'shared_convs.')
        fcs = _count_indices(sd, box + 'shared_fcs.')
        head = f'{convs}conv{fcs}fc' if convs else f'{fcs}fc'
        mask = ', mask head' if any(
            k.startswith('roi_head.mask_head') for k in sd) else ''
        if stages:
            parts.append(f'Cascade R-CNN ({len(stages)} stages, box heads '
                         f'{head}{mask})')
        else:
            parts.append(f'R-CNN (box head {head}{mask})')
        if 'neck.fpn_convs.0.proj_in.weight' in sd:
            parts.append('HorFPN (gnConv ' +
                         _gnconv_mixer(sd, 'neck.fpn_convs.0.') + ')')
        elif any(k.startswith('neck.') for k in sd):
            parts.append('FPN')
        cls = sd.get(box + 'fc_cls.weight')
        if cls is not None:
            parts.append(f'{cls.shape[0] - 1} classes')
    elif any(k.startswith('decode_head.') for k in sd):
        if 'decode_head.fpn_bottleneck.proj_in.weight' in sd:
            parts.append('GNUPerHead (gnConv ' +
                         _gnconv_mixer(sd, 'decode_head.fpn_bottleneck.') +
                         ')')
        elif 'decode_head.psp_modules.0.1.conv.weight' in sd:
            parts.append('UPerHead')
        else:
            parts.append('decode head')
        if any(k.startswith('auxiliary_head.') for k in sd):
            parts.append('auxiliary FCN head')
        cls = sd.get('decode_head.conv_seg.weight')
        if cls is not None:
            parts.append(f'{cls.shape[0]} classes')
    return ', '.join(parts)


def state_dict_mismatch(state_dict: Dict[str, torch.Tensor],
                        expected: Dict[str, torch.Tensor],
                        limit: int = 5) -> List[str]:
    """Differences between a state dict and a model's: missing keys,
    unexpected keys, shape mismatches (at most ``limit`` of each)."""
    problems = []
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f'{k}: checkpoint {tuple(state_dict[k].shape)}, model '
        f'{tuple(expected[k].shape)}' for k in expected
        if k in state_dict and state_dict[k].shape != expected[k].shape
    ]
    if missing:
        problems.append(f'{len(missing)} missing keys ({missing[:limit]})')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected keys '
                        f'({unexpected[:limit]})')
    if shapes:
        problems.append(f'{len(shapes)} shape mismatches ({shapes[:limit]})')
    return problems


def build_model_skeleton(config) -> torch.nn.Module:
    """The model of a config, built on the meta device (shapes only, no
    memory, no weight initialisation)."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope

    cfg = Config.fromfile(config) if isinstance(config, str) else config
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model_cfg = copy.deepcopy(cfg.model)
    # the weights come from the checkpoint: nothing to read at build time
    model_cfg.get('backbone', {}).pop('init_cfg', None)
    with torch.device('meta'):
        return MODELS.build(model_cfg)


def repo_configs() -> List[str]:
    """hornet_mm's detection and segmentation configs (from a checkout)."""
    root = osp.join(osp.dirname(osp.dirname(osp.dirname(__file__))), 'configs')
    found = []
    for family in ('detection', 'segmentation'):
        folder = osp.join(root, family)
        if osp.isdir(folder):
            found += [
                osp.join(folder, name) for name in sorted(os.listdir(folder))
                if name.endswith('.py')
            ]
    return found


def find_matching_configs(
        state_dict: Dict[str, torch.Tensor],
        configs: Optional[Sequence[str]] = None) -> List[str]:
    """The configs whose model a converted state dict loads into strictly.

    Only configs whose backbone is the checkpoint's HorNet (read from the
    config, without building it) are built and compared key by key.
    """
    kind = 'segmentation' if any(
        k.startswith('decode_head.') for k in state_dict) else 'detection'
    try:
        arch = infer_hornet_arch(state_dict)
    except ValueError:
        arch = None
    matches = []
    for path in configs if configs is not None else repo_configs():
        if configs is None and f'{osp.sep}{kind}{osp.sep}' not in path:
            continue
        if arch is not None and _config_arch(path) not in (arch, None):
            continue
        expected = _config_layout(path)
        if expected is not None and not state_dict_mismatch(
                state_dict, expected):
            matches.append(path)
    return matches


@functools.lru_cache(maxsize=None)
def _config(path: str):
    from mmengine.config import Config
    return Config.fromfile(path)


def _config_arch(path: str) -> Optional[dict]:
    """The HorNet arch dict of a config's backbone; None when that is not a
    HorNet of a known arch (then the config is compared in full)."""
    backbone = (_config(path).get('model') or {}).get('backbone') or {}
    if str(backbone.get('type', '')).split('.')[-1] != 'HorNet':
        return None
    try:
        return HorNet._parse_arch(backbone.get('arch', 'tiny'))
    except (TypeError, ValueError):
        return None


@functools.lru_cache(maxsize=None)
def _config_layout(path: str) -> Optional[Dict[str, torch.Tensor]]:
    """The (meta-device) state dict of a config's model, once per process;
    None for a config without a model."""
    cfg = _config(path)
    return build_model_skeleton(cfg).state_dict() if 'model' in cfg else None


def _dataset_meta(meta: dict, kind: str) -> Optional[dict]:
    """``dataset_meta`` for mmdet 3.x / mmseg 1.x from an mmcv 1.x ``meta``."""
    classes = meta.get('CLASSES')
    if classes is None:
        return None
    dataset_meta = dict(classes=tuple(str(c) for c in classes))
    palette = meta.get('PALETTE')
    if palette is None:  # mmdet 2.x did not save it: the library's, if known
        if kind == 'segmentation':
            from mmseg.datasets import ADE20KDataset as dataset
        else:
            from mmdet.datasets import CocoDataset as dataset
        if tuple(dataset.METAINFO['classes']) == dataset_meta['classes']:
            palette = dataset.METAINFO['palette']
    if palette is not None:
        if len(palette) != len(classes):
            raise ValueError(f'meta has {len(classes)} CLASSES but '
                             f'{len(palette)} PALETTE entries')
        dataset_meta['palette'] = [tuple(int(v) for v in c) for c in palette]
    return dataset_meta


def read_released_checkpoint(
        path: str,
        unsafe: bool = False) -> Tuple[Dict[str, torch.Tensor], dict]:
    """State dict and ``meta`` of a released (1.x-stack) checkpoint file.

    The file is read without unpickling arbitrary objects unless ``unsafe``:
    mmcv 1.x ``meta`` holds only strings, numbers, lists and dicts, which the
    safe loader accepts; a file holding anything else is refused with the
    names of the objects.
    """
    checkpoint = load_checkpoint_file(path, unsafe=unsafe)
    state_dict = unwrap_checkpoint(checkpoint)
    meta = (checkpoint.get('meta') or {}) if state_dict is not checkpoint \
        else {}
    bad = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f'{path}: entries that are not tensors: {bad[:5]}')
    if not isinstance(meta, dict):
        raise ValueError(
            f'{path}: meta is a {type(meta).__name__}, not a dict')
    return state_dict, meta


def convert_released_model(src: str,
                           dst: str,
                           config: Optional[str] = None,
                           unsafe_load: bool = False) -> dict:
    """Convert a released HorNet detector/segmentor to an mmengine checkpoint.

    Args:
        src: mmdet 2.x / mmseg 0.x checkpoint (``state_dict`` wrapped or not).
        dst: Output path; nothing is written when any check fails.
        config: hornet_mm config the weights are for. Without it, the config
            in ``configs/`` whose model fits is chosen (exactly one must fit).
        unsafe_load: Read ``src`` with ``weights_only=False`` (trusted files).

    Returns:
        The ``meta`` written: ``dataset_meta``, ``config``, ``model``
        (:func:`describe_state_dict`), versions of the stack that wrote
        ``src``.

    Raises:
        ValueError: The file is not a HorNet detector/segmentor, or the
            config's model does not fit it (the message names what the
            checkpoint holds, what differs and the configs that fit).
    """
    check_destination(src, dst)
    state_dict, meta = read_released_checkpoint(src, unsafe=unsafe_load)
    return convert_loaded_model(state_dict, meta, src, dst, config)


def is_dense_state_dict(state_dict: Dict[str, torch.Tensor]) -> bool:
    """Whether a state dict is a whole detector or segmentor."""
    return any(
        k.split('.')[0] in ('neck', 'rpn_head', 'roi_head', 'decode_head')
        for k in state_dict)


def convert_loaded_model(state_dict: Dict[str, torch.Tensor],
                         meta: dict,
                         src: str,
                         dst: str,
                         config: Optional[str] = None) -> dict:
    """:func:`convert_released_model` on an already read checkpoint."""
    check_destination(src, dst)
    converted = convert_dense_state_dict(state_dict)
    what = describe_state_dict(converted)
    if config is None:
        matches = find_matching_configs(converted)
        if len(matches) != 1:
            raise ValueError(f'{src} holds {what}; ' + (
                f'several configs fit ({matches}): choose one with --config'
                if matches else 'no config in configs/ fits it: give one '
                'with --config'))
        config = matches[0]
    expected = _config_layout(osp.abspath(config))
    if expected is None:
        raise ValueError(f'{config} defines no model')
    problems = state_dict_mismatch(converted, expected)
    if problems:
        fits = find_matching_configs(converted)
        raise ValueError(f'{src} holds {what}, but {config} builds '
                         f'{describe_state_dict(expected)}: ' +
                         '; '.join(problems) + '. ' +
                         (f'Configs that fit: {fits}.'
                          if fits else 'No config in configs/ fits it.'))
    kind = 'segmentation' if 'decode_head.conv_seg.weight' in converted \
        else 'detection'
    new_meta: Dict[str, object] = dict(
        hornet_mm_version=__version__,
        converted_from=osp.basename(src),
        config=config,
        model=what,
        time=time.strftime('%Y%m%d_%H%M%S', time.localtime()))
    for key in ('mmcv_version', 'mmdet_version', 'mmseg_version'):
        if key in meta:
            new_meta['source_' + key] = str(meta[key])
    dataset_meta = _dataset_meta(meta, kind)
    if dataset_meta is not None:
        classes = converted.get('decode_head.conv_seg.weight')
        num = classes.shape[0] if classes is not None else None
        for key, value in converted.items():
            if key.endswith('fc_cls.weight'):
                num = value.shape[0] - 1
        if num is not None and len(dataset_meta['classes']) != num:
            raise ValueError(f"{src}: meta names "
                             f"{len(dataset_meta['classes'])} CLASSES, the "
                             f'model has {num} classes')
        new_meta['dataset_meta'] = dataset_meta
    save_torch_atomic(dict(state_dict=converted, meta=new_meta), dst)
    return new_meta
