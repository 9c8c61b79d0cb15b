"""Mixed precision that also runs where there is no accelerator.

mmengine's ``AmpOptimWrapper`` refuses to start without CUDA (or NPU, MLU,
MUSA), so ``--amp`` fails on a CPU machine. ``hornet_mm.AmpOptimWrapper`` is
mmengine's wrapper wherever one of those devices is available; on a CPU-only
machine it trains under bfloat16 autocast, without loss scaling (bfloat16
has float32's exponent range, so gradients do not underflow the way float16
ones do). The global filter keeps its FFT in float32 either way.

On the CPU, mmcv's compiled ops (NMS, RoIAlign, ...) have no bfloat16
kernels, so for models with a ``backbone`` only the backbone and neck run
under autocast and their outputs are handed to the heads in float32; other
models run under autocast whole.
"""
import logging
from contextlib import contextmanager
from typing import Iterator, List, Optional, Union

import torch
import torch.nn as nn
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper as _MMEngineAmpOptimWrapper
from mmengine.optim import OptimWrapper

from hornet_mm.registry import OPTIM_WRAPPERS

__all__ = ['AmpOptimWrapper']


def _to_float32(value):
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.float()
    if isinstance(value, (list, tuple)):
        return type(value)(_to_float32(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_float32(v) for k, v in value.items()}
    return value


@contextmanager
def _autocast_modules(modules: List[nn.Module],
                      dtype: torch.dtype) -> Iterator[None]:
    """Run the given modules under CPU autocast, outputs back in float32."""
    handles = []
    contexts = {}

    def enter(module, args):
        contexts[id(module)] = torch.autocast('cpu', dtype=dtype)
        contexts[id(module)].__enter__()

    def leave(module, args, output):
        contexts.pop(id(module)).__exit__(None, None, None)
        return _to_float32(output)

    try:
        for module in modules:
            handles.append(module.register_forward_pre_hook(enter))
            handles.append(module.register_forward_hook(leave))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _accelerator_available() -> bool:
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


@OPTIM_WRAPPERS.register_module()
class AmpOptimWrapper(_MMEngineAmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper``, with a bfloat16 CPU fallback.

    Args:
        loss_scale: Loss scaling of the accelerator path (``'dynamic'``, a
            float or a ``GradScaler`` config); unused on the CPU.
        dtype: Autocast dtype. On the CPU only ``None``/``'bfloat16'``.
        use_fsdp: As in mmengine.
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ``clip_grad``,
            ``accumulative_counts``).
    """

    def __init__(self,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Optional[Union[str, torch.dtype]] = None,
                 use_fsdp: bool = False,
                 **kwargs) -> None:
        self.on_cpu = not _accelerator_available()
        if not self.on_cpu:
            super().__init__(
                loss_scale=loss_scale,
                dtype=dtype,
                use_fsdp=use_fsdp,
                **kwargs)
            return
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, dtype)
        if dtype not in (None, torch.bfloat16):
            raise ValueError('Mixed precision on the CPU runs in bfloat16; '
                             f'dtype={dtype} is not supported there')
        OptimWrapper.__init__(self, **kwargs)
        self.cast_dtype = torch.bfloat16
        self.loss_scaler = None
        self._scale_update_param = None
        print_log(
            'No CUDA device: mixed precision runs as bfloat16 autocast on '
            'the CPU, without loss scaling',
            logger='current',
            level=logging.WARNING)

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        if self.on_cpu:
            OptimWrapper.backward(self, loss, **kwargs)
        else:
            super().backward(loss, **kwargs)

    def step(self, **kwargs) -> None:
        if self.on_cpu:
            OptimWrapper.step(self, **kwargs)
        else:
            super().step(**kwargs)

    def state_dict(self) -> dict:
        if self.on_cpu:
            return OptimWrapper.state_dict(self)
        return super().state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        if self.on_cpu:
            # a checkpoint written on a GPU carries the scaler's state
            state_dict = dict(state_dict)
            state_dict.pop('loss_scaler', None)
            if 'base_param_settings' in state_dict:
                self.base_param_settings = state_dict.pop(
                    'base_param_settings')
            self.optimizer.load_state_dict(state_dict)
        else:
            super().load_state_dict(state_dict)

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        if not self.on_cpu:
            with super().optim_context(model):
                yield
            return
        inner = getattr(model, 'module', model)
        parts = [
            getattr(inner, name) for name in ('backbone', 'neck')
            if isinstance(getattr(inner, name, None), nn.Module)
        ]
        with OptimWrapper.optim_context(self, model):
            if parts:
                with _autocast_modules(parts, self.cast_dtype):
                    yield
            else:
                with torch.autocast('cpu', dtype=self.cast_dtype):
                    yield
