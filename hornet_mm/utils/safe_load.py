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

None of them can run code on load: numpy's reconstructors only build arrays,
and HistoryBuffer is restored by setting its attributes. Any other global in
a file still makes ``torch.load`` refuse it.
"""
from typing import List

import numpy as np
import torch

__all__ = ['mmengine_checkpoint_globals', 'allow_mmengine_checkpoints']


def mmengine_checkpoint_globals() -> List[object]:
    """The non-tensor globals that mmengine checkpoints contain."""
    from mmengine.logging import HistoryBuffer

    try:  # numpy >= 2 moved the pickling helpers to numpy._core
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtypes = {type(np.dtype(code)) for code in np.typecodes['All'] if code}
    dtypes.add(type(np.dtype(np.bool_)))
    return [HistoryBuffer, _reconstruct, scalar, np.ndarray, np.dtype,
            *sorted(dtypes, key=lambda t: t.__name__)]


def allow_mmengine_checkpoints() -> None:
    """Add :func:`mmengine_checkpoint_globals` to torch's safe globals.

    Idempotent; a no-op on torch versions without ``add_safe_globals``.
    """
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # pragma: no cover - torch < 2.4
        return
    current = set(map(id, torch.serialization.get_safe_globals()))
    add([g for g in mmengine_checkpoint_globals() if id(g) not in current])
