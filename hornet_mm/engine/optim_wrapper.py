"""Mixed precision that also runs where there is no accelerator.

mmengine's ``AmpOptimWrapper`` refuses to start without CUDA (or NPU, MLU,
MUSA), so ``--amp`` fails on a CPU machine. Building
``hornet_mm.AmpOptimWrapper`` gives mmengine's wrapper wherever one of those
devices is available, and a :class:`CPUAmpOptimWrapper` on a CPU-only
machine: bfloat16 autocast without loss scaling (bfloat16 has float32's
exponent range, so gradients do not underflow the way float16 ones do), on
the parts :class:`~hornet_mm.utils.autocast.AutocastPolicy` names (backbone
and neck of an OpenMMLab model: mmcv's compiled CPU ops have no bfloat16
kernels). The global filter keeps its FFT in float32 either way.
"""
import logging
from contextlib import contextmanager
from typing import Iterator, Optional, Union

import torch
import torch.nn as nn
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper as _MMEngineAmpOptimWrapper
from mmengine.optim import OptimWrapper

from hornet_mm.registry import OPTIM_WRAPPERS
from hornet_mm.utils.autocast import AutocastPolicy

__all__ = ['AmpOptimWrapper', 'CPUAmpOptimWrapper']


def _accelerator_available() -> bool:
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """Mixed precision on the CPU: bfloat16 autocast, no loss scaling.

    Takes :class:`AmpOptimWrapper`'s arguments, so that a config written for
    a GPU builds here unchanged.

    Args:
        loss_scale: Unused (no loss scaling in bfloat16).
        dtype: ``None`` or ``'bfloat16'``; anything else is refused.
        use_fsdp: Unused.
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ``clip_grad``,
            ``accumulative_counts``).
    """

    on_cpu = True

    def __init__(self,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Optional[Union[str, torch.dtype]] = None,
                 use_fsdp: bool = False,
                 **kwargs) -> None:
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, dtype)
        if dtype not in (None, torch.bfloat16):
            raise ValueError('Mixed precision on the CPU runs in bfloat16; '
                             f'dtype={dtype} is not supported there')
        super().__init__(**kwargs)
        self.cast_dtype = torch.bfloat16
        self.loss_scaler = None
        self.policy = AutocastPolicy('cpu', torch.bfloat16)
        print_log(
            'No CUDA device: mixed precision runs as bfloat16 autocast on '
            'the CPU, without loss scaling',
            logger='current',
            level=logging.WARNING)

    def load_state_dict(self, state_dict: dict) -> None:
        # a checkpoint written on a GPU carries the scaler's state
        state_dict = dict(state_dict)
        state_dict.pop('loss_scaler', None)
        super().load_state_dict(state_dict)

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        with super().optim_context(model), self.policy.context(model):
            yield


@OPTIM_WRAPPERS.register_module()
class AmpOptimWrapper(_MMEngineAmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper``; a :class:`CPUAmpOptimWrapper` when
    built on a machine without an accelerator (decided once, here)."""

    on_cpu = False

    def __new__(cls, *args, **kwargs):
        if cls is AmpOptimWrapper and not _accelerator_available():
            return CPUAmpOptimWrapper(*args, **kwargs)
        return super().__new__(cls)
