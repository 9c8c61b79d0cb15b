"""Reading, converting and exporting HorNet checkpoint files.

The pure key mapping lives next to the model
(:func:`hornet_mm.models.backbones.hornet.convert_hornet_state_dict`); this
module adds file handling: safe loading with clear errors, validation against
the architecture the weights describe, and writing without ever leaving a
truncated file behind.
"""
import os.path as osp
import pickle
import time
from typing import Dict, Optional

import torch

from hornet_mm.engine.resume import checkpoint_problem
from hornet_mm.models.backbones.hornet import (HorNet,
                                               convert_hornet_state_dict,
                                               infer_hornet_arch,
                                               unwrap_checkpoint)
from hornet_mm.utils.atomic import save_torch_atomic
from hornet_mm.version import __version__

__all__ = [
    'check_destination', 'load_checkpoint_file', 'arch_name_of',
    'convert_checkpoint', 'export_official_state_dict'
]


def check_destination(src: str, dst: str) -> None:
    """Refuse to write a conversion of ``src`` over ``src`` itself (also
    when one is a link to the other, or the same path written another
    way)."""
    same = osp.realpath(src) == osp.realpath(dst) or (
        osp.exists(dst) and osp.exists(src) and osp.samefile(src, dst))
    if same:
        raise ValueError(f'destination {dst} is the source file {src}; '
                         'choose another path (nothing was written)')


def load_checkpoint_file(path: str, unsafe: bool = False) -> dict:
    """``torch.load`` a checkpoint on CPU, with errors that name the problem.

    Args:
        path: File to read.
        unsafe: Allow arbitrary pickled objects (``weights_only=False``). Only
            for files from a trusted source: unpickling can run code.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Checkpoint file not found: {path}')
    if osp.getsize(path) == 0:
        raise ValueError(f'Checkpoint file {path} is empty')
    try:
        return torch.load(path, map_location='cpu', weights_only=not unsafe)
    except Exception as err:  # torch raises many types on bad bytes
        problem = checkpoint_problem(path)
        if problem is not None:  # truncated, not a checkpoint at all
            raise ValueError(f'{path} is not a readable checkpoint: the '
                             f'file {problem}') from err
        if isinstance(err, pickle.UnpicklingError) and not unsafe:
            try:
                found = torch.serialization.get_unsafe_globals_in_checkpoint(
                    path)
            except Exception:  # not a zip checkpoint: the original error
                found = []
            if found:
                raise ValueError(
                    f'{path} holds pickled objects beyond tensors and plain '
                    f'containers ({", ".join(found)}), which the safe loader '
                    'refuses. If you trust the file, load it with '
                    'unsafe=True (--unsafe-load on the command line).') \
                    from err
        raise ValueError(
            f'{path} is not a readable PyTorch checkpoint (truncated or '
            f'corrupt?): {type(err).__name__}: {err}') from err


def arch_name_of(arch: dict) -> Optional[str]:
    """Long name of the zoo arch equal to ``arch`` (None if custom)."""
    names = [
        name for name, settings in HorNet.arch_zoo.items() if settings == arch
    ]
    return max(names, key=len) if names else None


def convert_checkpoint(src: str,
                       dst: str,
                       use_ema: bool = False,
                       unsafe_load: bool = False) -> dict:
    """Convert a released HorNet checkpoint file to an mmengine checkpoint.

    The output ``{'state_dict': {'backbone.*', 'head.fc.*'}, 'meta': ...}``
    works as ``load_from`` of a classifier and, with
    ``init_cfg=dict(type='Pretrained', checkpoint=dst, prefix='backbone.')``,
    for a detector or segmentor. The weights are checked by loading them
    strictly into the HorNet they describe; on any error nothing is written.

    Args:
        src: Official-layout, mmpretrain or hornet_mm checkpoint.
        dst: Output path.
        use_ema: Convert ``model_ema`` instead of ``model``.
        unsafe_load: Read ``src`` with ``weights_only=False`` (trusted files).

    Returns:
        The ``meta`` dict written.
    """
    check_destination(src, dst)
    checkpoint = load_checkpoint_file(src, unsafe=unsafe_load)
    state_dict = unwrap_checkpoint(checkpoint, use_ema=use_ema)
    bad = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f'{src}: entries that are not tensors: {bad[:5]}')
    converted = convert_hornet_state_dict(state_dict)
    arch = infer_hornet_arch(converted)

    backbone = HorNet(arch=arch, out_indices=(3, ))
    backbone_sd = {
        k[len('backbone.'):]: v
        for k, v in converted.items() if k.startswith('backbone.')
    }
    missing, unexpected = backbone.load_state_dict(backbone_sd, strict=False)
    if missing or unexpected:
        raise ValueError(
            f'{src} does not match the HorNet it describes: missing keys '
            f'{missing[:5]}, unexpected keys {unexpected[:5]}')
    meta: Dict[str, object] = dict(
        hornet_mm_version=__version__,
        arch=arch_name_of(arch) or arch,
        converted_from=osp.basename(src),
        time=time.strftime('%Y%m%d_%H%M%S', time.localtime()))
    head_w = converted.get('head.fc.weight')
    if head_w is not None:
        if head_w.shape[1] != backbone.dims[-1]:
            raise ValueError(
                f'head.fc.weight has {head_w.shape[1]} inputs, the backbone '
                f'gives {backbone.dims[-1]}')
        meta['num_classes'] = int(head_w.shape[0])
        if head_w.shape[0] == 1000:
            from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
            meta['dataset_meta'] = dict(classes=list(IMAGENET_CATEGORIES))
    save_torch_atomic(dict(state_dict=converted, meta=meta), dst)
    return meta


_EXPORTED = ('backbone.downsample_layers.', 'backbone.stages.')


def export_official_state_dict(
        state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Inverse of the conversion: hornet_mm keys to the official layout.

    Only the classification layout maps back (``backbone.norm3`` becomes the
    final ``norm``; other output norms have no official counterpart and are
    dropped).
    """
    exported = {}
    for key, value in state_dict.items():
        if key.startswith('head.fc.'):
            exported['head.' + key[len('head.fc.'):]] = value
        elif key.startswith('backbone.norm3.'):
            exported['norm.' + key[len('backbone.norm3.'):]] = value
        elif key.startswith(_EXPORTED):
            exported[key[len('backbone.'):]] = value
    return exported
