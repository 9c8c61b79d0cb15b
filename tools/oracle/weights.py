"""Deterministic, informative weights for a state-dict layout.

The parity fixtures (``tests/data/oracle``) compare models of the OpenMMLab
1.x stack with hornet_mm's; the full-size models are too large to store, so
both sides fill the same layout with the same numbers: each tensor is drawn by
numpy's legacy ``RandomState`` (its streams are frozen across numpy releases)
seeded by the key's CRC-32 and a global seed, and scaled so that activations
stay of order one through the network and the classifiers give spread-out
scores (a trained model's behaviour, not an untrained one's near-uniform
output). This file needs only numpy and torch, so that Python 3.10 with
torch 2.1 (the oracle) and the test environment both import it.
"""
import hashlib
import zlib
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

__all__ = ['layout_weights', 'fill_tensor', 'state_dict_digest']

# Extra gain of the layers whose outputs are scores.
_SCORE_GAIN = {
    'fc_cls.weight': 8.0,
    'rpn_cls.weight': 4.0,
    'conv_logits.weight': 4.0,
    'conv_seg.weight': 4.0,
}


def fill_tensor(key: str,
                shape: Sequence[int],
                dtype: str = 'float32',
                seed: int = 0,
                cls_gain: Optional[float] = None) -> torch.Tensor:
    """The tensor of one key (see the module docstring); ``cls_gain``
    replaces the gain of the box classifiers (``fc_cls``), for heads whose
    scores would otherwise saturate at 1 and tie."""
    shape = tuple(int(s) for s in shape)
    if key.endswith('num_batches_tracked') or dtype.startswith('int'):
        return torch.zeros(shape, dtype=torch.int64)
    rng = np.random.RandomState((zlib.crc32(key.encode()) ^ seed) % 2**32)
    noise = rng.standard_normal(shape)
    name = key.rsplit('.', 1)[-1]
    if name == 'running_var':
        values = 0.5 + np.abs(noise)
    elif name == 'running_mean':
        values = 0.1 * noise
    elif 'gamma' in key:  # layer scales: make every block count
        values = 0.5 + 0.1 * noise
    elif name == 'complex_weight':
        values = 0.5 * noise
    elif len(shape) >= 2:
        fan_in = int(np.prod(shape[1:]))
        gain = 1.0
        for suffix, extra in _SCORE_GAIN.items():
            if key.endswith(suffix):
                gain = extra
        if cls_gain is not None and key.endswith('fc_cls.weight'):
            gain = cls_gain
        values = noise * gain / np.sqrt(fan_in)
    elif name == 'weight':  # norm weights
        values = 1.0 + 0.1 * noise
    else:  # biases
        values = 0.1 * noise
    return torch.from_numpy(values.astype(np.float32))


def layout_weights(
        layout: Dict[str, Tuple[Sequence[int], str]],
        seed: int = 0,
        cls_gain: Optional[float] = None) -> Dict[str, torch.Tensor]:
    """A state dict for ``{key: (shape, dtype)}``, in the layout's order."""
    return {
        key: fill_tensor(key, shape, dtype, seed, cls_gain)
        for key, (shape, dtype) in layout.items()
    }


def state_dict_digest(state_dict: Dict[str, torch.Tensor]) -> str:
    """SHA-256 over the keys, shapes and bytes of a state dict."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        value = state_dict[key].detach().cpu().contiguous()
        digest.update(key.encode())
        digest.update(str(tuple(value.shape)).encode())
        digest.update(value.numpy().tobytes())
    return digest.hexdigest()
