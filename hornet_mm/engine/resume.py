"""What ``--resume`` continues from, and whether a checkpoint fits a model.

:func:`find_resume_checkpoint` is what ``--resume`` without a path resumes
from: the checkpoint ``last_checkpoint`` names if it is complete, else the
newest complete ``epoch_*.pth`` / ``iter_*.pth`` (with a warning), and an
error rather than a fresh start when checkpoints exist but none is complete.
:func:`check_checkpoint_fits` refuses a ``load_from`` / ``--resume``
checkpoint of another architecture, which mmengine would load with a
warning, and :func:`check_checkpoint_finite` one whose weights hold NaN or
infinite values. Both raise :class:`CheckpointError`; training applies them
through ``hornet_mm.CheckpointHook``, ``tools/test.py`` on its own.
"""
import logging
import os
import os.path as osp
import re
import zipfile
from typing import List, Optional

import torch
from mmengine.logging import print_log

__all__ = [
    'ResumeError', 'CheckpointError', 'checkpoint_problem',
    'find_resume_checkpoint', 'check_checkpoint_fits',
    'check_checkpoint_finite'
]

CHECKPOINT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


class ResumeError(RuntimeError):
    """``--resume`` found checkpoints but none it can resume from."""


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read or does not suit the model; the
    message names the file."""


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete checkpoint file, or None if it is.

    torch writes a zip archive whose directory comes last, so a file cut
    short by a kill or a full disk has none; only that structure is checked
    (the tensors are not read).
    """
    if not osp.exists(path):
        return 'does not exist'
    if osp.isdir(path):
        return None  # sharded (deepspeed/FSDP) checkpoints: not checked
    if osp.getsize(path) == 0:
        return 'is empty'
    with open(path, 'rb') as f:
        head = f.read(4)
    is_zip = head == b'PK\x03\x04'
    if not is_zip and not head.startswith(b'\x80'):  # pickle's PROTO opcode
        return ('is not a PyTorch checkpoint (neither a zip archive nor a '
                'pickle)')
    if not is_zip:
        try:  # torch's legacy (non-zip) format
            torch.load(path, map_location='cpu', weights_only=True)
        except Exception as err:
            return f'cannot be read ({type(err).__name__}: {err})'
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as err:
        return f'is truncated or corrupt ({err})'
    if not any(name.endswith('/data.pkl') for name in names):
        return 'is a zip file but not a PyTorch checkpoint'
    return None


def _step_checkpoints(work_dir: str) -> List[str]:
    """``epoch_N.pth`` / ``iter_N.pth`` files of ``work_dir``, newest
    first."""
    if not osp.isdir(work_dir):
        return []
    found = []
    for name in os.listdir(work_dir):
        match = CHECKPOINT_NAME.match(name)
        if match:
            path = osp.join(work_dir, name)
            found.append((int(match.group(2)), osp.getmtime(path), path))
    return [path for _, _, path in sorted(found, reverse=True)]


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` (without a path) continues from.

    * ``last_checkpoint`` names a complete file: that file (also found by
      name in ``work_dir`` when the directory was moved);
    * it names a missing, empty or truncated file: the newest complete
      ``epoch_*.pth`` / ``iter_*.pth`` of ``work_dir``, with a warning;
    * no ``last_checkpoint``: the newest complete ``epoch_*``/``iter_*``
      file, or None (a fresh start) when there is none at all.

    Raises:
        ResumeError: checkpoints (or ``last_checkpoint``) exist but none is
            complete. Training never silently starts over.
    """
    last_file = osp.join(work_dir, 'last_checkpoint')
    candidates = _step_checkpoints(work_dir)
    problems = {}
    named = None
    if osp.isfile(last_file):
        with open(last_file) as f:
            named = f.read().strip()
        if named:
            local = osp.join(work_dir, osp.basename(named))
            for path in dict.fromkeys([named, local]):
                problems[path] = checkpoint_problem(path)
                if problems[path] is None:
                    return path
        else:
            problems[last_file] = 'is empty'
    for path in candidates:
        if path not in problems:
            problems[path] = checkpoint_problem(path)
        if problems[path] is None:
            if named is not None:
                print_log(
                    f'{last_file} names {named or "nothing"}, which '
                    f'{problems.get(named, problems.get(last_file))}; '
                    f'resuming from {path}, the newest complete checkpoint '
                    'instead',
                    logger='current',
                    level=logging.WARNING)
            return path
    if named is None and not candidates:
        return None
    listing = '; '.join(f'{path} {problem}'
                        for path, problem in problems.items())
    raise ResumeError(
        f'Nothing to resume from in {work_dir}: {listing}. Refusing to start '
        'over; resume from a checkpoint file with --resume PATH, or remove '
        f'{last_file} and the broken files to train from scratch.')


def check_checkpoint_fits(model: torch.nn.Module,
                          checkpoint: dict,
                          source: Optional[str] = None,
                          min_fraction: float = 0.5) -> None:
    """Refuse a checkpoint that matches less than ``min_fraction`` of the
    model's tensors (by name and shape).

    mmengine loads ``load_from`` and ``--resume`` checkpoints non-strictly:
    a checkpoint of another architecture only logs the mismatches and
    training goes on from (mostly) random weights. A new head for fine-tuning
    or resized filters leave most tensors matching and pass.

    Raises:
        CheckpointError: naming ``source`` and a few missing / mismatched
            keys.
    """
    while isinstance(getattr(model, 'module', None), torch.nn.Module):
        model = model.module  # DDP, test-time augmentation, both
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict):
        return
    state = {
        (k[len('module.'):] if k.startswith('module.') else k): v
        for k, v in state.items()
    }
    own = model.state_dict()
    if not own:
        return
    missing, mismatched, fitting = [], [], 0
    for key, value in own.items():
        theirs = state.get(key)
        if not isinstance(theirs, torch.Tensor):
            missing.append(key)
        elif tuple(theirs.shape) != tuple(value.shape):
            mismatched.append(f'{key} {tuple(theirs.shape)} in the '
                              f'checkpoint, {tuple(value.shape)} in the model')
        else:
            fitting += 1
    if fitting >= min_fraction * len(own):
        return
    details = []
    if mismatched:
        details.append(f'{len(mismatched)} of other shapes, e.g. ' +
                       '; '.join(mismatched[:3]))
    if missing:
        details.append(f'{len(missing)} missing, e.g. ' +
                       ', '.join(missing[:3]))
    raise CheckpointError(
        f'Checkpoint {source or ""} does not fit the model: only {fitting} '
        f'of its {len(own)} tensors are in it with the same shape '
        f'({"; ".join(details)}). Is it a checkpoint of another '
        'architecture?')


def check_checkpoint_finite(checkpoint: dict,
                            source: Optional[str] = None,
                            max_names: int = 5) -> None:
    """Refuse a checkpoint whose weights hold NaN or infinite values.

    Such weights give NaN outputs (a top-1 of 0, an mAP of 0) or a loss that
    is NaN from the first iteration: evaluating, fine-tuning or resuming
    from them is never useful. Only the model's weights (``state_dict``) are
    checked, not the optimizer's state.

    Args:
        checkpoint: What ``torch.load`` returned.
        source: The file, for the message.
        max_names: How many of the offending tensors the message names.

    Raises:
        CheckpointError: naming ``source``, how many tensors are not finite
            and the first ``max_names`` of them.
    """
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict):
        return
    tensors = {
        key: value
        for key, value in state.items()
        if isinstance(value, torch.Tensor) and (
            value.is_floating_point() or value.is_complex())
    }
    bad = [
        key for key, value in tensors.items()
        if not bool(torch.isfinite(value).all())
    ]
    if not bad:
        return
    more = f' and {len(bad) - max_names} more' if len(bad) > max_names \
        else ''
    raise CheckpointError(
        f'Checkpoint {source or ""} holds NaN or infinite values in '
        f'{len(bad)} of its {len(tensors)} floating-point tensors: '
        f'{", ".join(bad[:max_names])}{more}. Was it saved after training '
        'diverged?')
