"""Let ``torch.load(weights_only=True)`` read mmengine checkpoints.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``, which only
unpickles tensors, containers and primitive types unless more types are
allow-listed. mmengine 0.10.7 calls ``torch.load`` without ``weights_only``,
so with a recent torch every mmengine checkpoint that holds anything else
(resume with ``--resume``, ``load_from``, ``init_cfg=dict(type='Pretrained')``)
fails with an ``UnpicklingError``.

hornet_mm does not switch the safe loader off (``weights_only=False`` would let
any pickled callable run on load). It adds to torch's allow-list exactly the
types mmengine itself writes into a checkpoint, found by saving a checkpoint
of a training run and listing its globals:

* ``mmengine.logging.HistoryBuffer``: the message hub's logged scalars;
* numpy arrays, scalars and dtypes, which those buffers and the runtime info
  hold (``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``,
  ``numpy.core.multiarray.scalar``, ``numpy.dtype`` and its per-type classes).

plus one narrowed builtin: mmengine pickles the statistics methods of a
``HistoryBuffer`` (``min``, ``max``, ``mean``, ``current`` and any registered
with ``HistoryBuffer.statistics_method``) as ``getattr(HistoryBuffer, name)``.
Instead of allowing ``builtins.getattr`` itself, the name is bound to
:func:`history_buffer_getattr`, which resolves exactly those attributes and
refuses everything else.

None of them can run code on load: numpy's reconstructors only build arrays,
and HistoryBuffer is restored by setting its attributes. Any other global in
a file still makes ``torch.load`` refuse it.

The same call makes mmengine's loader of local checkpoint files (behind
``load_from``, ``--resume``, ``init_cfg=dict(type='Pretrained')`` and the
libraries' inferencers) :func:`load_local_checkpoint`: it reads files as
mmengine does, and a file that is empty, truncated or not a checkpoint at
all is an error naming it and what is wrong with it instead of torch's bare
``EOFError`` or an unpickler's ``KeyError``.
"""
import os.path as osp
import pickle
from typing import Any, Callable, List, Optional, Union

import numpy as np
import torch

__all__ = [
    'mmengine_checkpoint_globals', 'allow_mmengine_checkpoints',
    'history_buffer_getattr', 'load_local_checkpoint'
]


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` limited to the statistics methods of ``HistoryBuffer``."""
    from mmengine.logging import HistoryBuffer
    is_buffer = obj is HistoryBuffer or isinstance(obj, HistoryBuffer)
    # the four built-in methods are registered by the first HistoryBuffer
    # created, which may not exist yet in this process
    allowed = {
        'min', 'max', 'current', 'mean', *HistoryBuffer._statistics_methods
    }
    if is_buffer and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed when loading '
        'a checkpoint: only HistoryBuffer statistics methods are')


def mmengine_checkpoint_globals() -> List[object]:
    """The non-tensor globals that mmengine checkpoints contain."""
    from mmengine.logging import HistoryBuffer

    try:  # numpy >= 2 moved the pickling helpers to numpy._core
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtypes = {type(np.dtype(code)) for code in np.typecodes['All'] if code}
    dtypes.add(type(np.dtype(np.bool_)))
    return [
        HistoryBuffer, _reconstruct, scalar, np.ndarray, np.dtype,
        *sorted(dtypes, key=lambda t: t.__name__),
        (history_buffer_getattr, 'builtins.getattr')
    ]


def load_local_checkpoint(
        filename: str,
        map_location: Optional[Union[str, Callable]] = None) -> Any:
    """mmengine's loader of local checkpoint files, with an error naming the
    file when it is not a complete checkpoint.

    Raises:
        FileNotFoundError: ``filename`` does not exist (mmengine's message).
        hornet_mm.engine.resume.CheckpointError: The file is empty, truncated
            or not a PyTorch checkpoint (found by
            :func:`hornet_mm.engine.resume.checkpoint_problem` once
            ``torch.load`` failed). Other errors, such as the safe loader's
            refusal of pickled objects, are raised as they are.
    """
    from hornet_mm.engine.resume import CheckpointError, checkpoint_problem
    path = osp.expanduser(filename)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{filename} can not be found.')
    if osp.getsize(path) == 0:
        raise CheckpointError(f'Checkpoint {path} is empty')
    try:
        return torch.load(path, map_location=map_location)
    except Exception as err:  # torch raises many types on bad bytes
        problem = checkpoint_problem(path)
        if problem is None:
            raise
        raise CheckpointError(f'Checkpoint {path} {problem}') from err


def allow_mmengine_checkpoints() -> None:
    """Add :func:`mmengine_checkpoint_globals` to torch's safe globals and
    read local checkpoint files with :func:`load_local_checkpoint`.

    Idempotent; the safe globals are not added on torch versions without
    ``add_safe_globals``.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_local_checkpoint, force=True)
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # pragma: no cover - torch < 2.4
        return
    current = torch.serialization.get_safe_globals()
    add([g for g in mmengine_checkpoint_globals() if g not in current])
