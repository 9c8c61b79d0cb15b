"""Where a model runs under autocast, decided in one place.

:class:`AutocastPolicy` is used by the CPU path of
:class:`hornet_mm.engine.AmpOptimWrapper` (``tools/train.py --amp``), by the
benchmark's steps and by the analysis tools, so that what is timed is what
trains:

* ``fp32`` (dtype None): no autocast;
* on an accelerator: the whole model under ``torch.autocast``;
* on the CPU, a model with a ``backbone`` (an mmdet / mmseg / mmpretrain
  model): only the backbone and the neck, whose floating outputs are handed
  on in float32. mmcv's compiled CPU ops (NMS, RoIAlign, ...) have no
  bfloat16 kernels, and the heads are a small part of the time;
* on the CPU, any other module: the whole module.
"""
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, ContextManager, Dict, Iterator, List, Optional

import torch
import torch.nn as nn

__all__ = ['PRECISIONS', 'AutocastPolicy', 'autocast_modules']

#: Precision names of the command lines and their autocast dtypes.
PRECISIONS: Dict[str, Optional[torch.dtype]] = {
    'fp32': None,
    'bf16': torch.bfloat16,
    'fp16': torch.float16,
}


def _to_float32(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.float()
    if isinstance(value, (list, tuple)):
        return type(value)(_to_float32(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_float32(v) for k, v in value.items()}
    return value


@contextmanager
def autocast_modules(modules: List[nn.Module], device_type: str,
                     dtype: torch.dtype) -> Iterator[None]:
    """Autocast only inside ``modules`` (entered and left by forward
    hooks); their floating outputs are handed on in float32."""
    contexts: Dict[int, Any] = {}

    def enter(module: nn.Module, args: Any) -> None:
        contexts[id(module)] = torch.autocast(device_type, dtype=dtype)
        contexts[id(module)].__enter__()

    def leave(module: nn.Module, args: Any, output: Any) -> Any:
        contexts.pop(id(module)).__exit__(None, None, None)
        return _to_float32(output)

    handles = []
    try:
        for module in modules:
            handles.append(module.register_forward_pre_hook(enter))
            handles.append(module.register_forward_hook(leave))
        yield
    finally:
        for handle in handles:
            handle.remove()


@dataclass(frozen=True)
class AutocastPolicy:
    """Autocast of ``dtype`` on ``device_type`` (None: none).

    Example:
        >>> policy = AutocastPolicy.from_precision('cpu', 'bf16')
        >>> with policy.context(model):  # backbone + neck only on the CPU
        ...     loss = model(**data, mode='loss')
    """

    device_type: str
    dtype: Optional[torch.dtype]

    @classmethod
    def from_precision(cls, device: Any, precision: str) -> 'AutocastPolicy':
        """From a device (or its type) and a name of :data:`PRECISIONS`."""
        if precision not in PRECISIONS:
            raise ValueError(f'Unknown precision {precision!r}; choose from '
                             f'{", ".join(PRECISIONS)}')
        device_type = getattr(device, 'type', str(device).split(':')[0])
        return cls(device_type, PRECISIONS[precision])

    def parts(self, model: nn.Module) -> Optional[List[nn.Module]]:
        """The modules autocast alone, or None for the whole model."""
        if self.device_type != 'cpu':
            return None
        inner = getattr(model, 'module', model)  # DDP and other wrappers
        if not isinstance(getattr(inner, 'backbone', None), nn.Module):
            return None
        return [
            getattr(inner, name) for name in ('backbone', 'neck')
            if isinstance(getattr(inner, name, None), nn.Module)
        ]

    def context(self, model: Optional[nn.Module] = None) -> ContextManager:
        """The context to run ``model``'s forward in."""
        if self.dtype is None:
            return nullcontext()
        parts = None if model is None else self.parts(model)
        if parts:
            return autocast_modules(parts, self.device_type, self.dtype)
        return torch.autocast(self.device_type, dtype=self.dtype)
