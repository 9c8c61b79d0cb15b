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
"""
import pickle
from typing import Any, List

import numpy as np
import torch

__all__ = [
    'mmengine_checkpoint_globals', 'allow_mmengine_checkpoints',
    'history_buffer_getattr'
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


def allow_mmengine_checkpoints() -> None:
    """Add :func:`mmengine_checkpoint_globals` to torch's safe globals.

    Idempotent; a no-op on torch versions without ``add_safe_globals``.
    """
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # pragma: no cover - torch < 2.4
        return
    current = torch.serialization.get_safe_globals()
    add([g for g in mmengine_checkpoint_globals() if g not in current])
