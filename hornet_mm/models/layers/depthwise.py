"""A depthwise convolution whose weight gradient is computed channels-last
on the CPU.

PyTorch's CPU backward of a depthwise 7x7 convolution on channel-first
(NCHW) tensors spends most of its time on the weight gradient: for HorNet-T
at batch 8 and 224 x 224 the 7x7 mixers' backward is over 40% of a bf16
training step, the input gradient a tenth of it. oneDNN computes the same
weight gradient from channels-last copies of the input and of the output
gradient several times faster at the sizes of HorNet's first three stages.
:func:`depthwise_conv2d` computes the forward pass and the input gradient as
PyTorch does and only the weight gradient from float32 channels-last
copies; the result is the same sum in another order (float32 rounding; under
bfloat16 autocast the products of the same bfloat16 values, summed in
float32).

It is used by the fused gnConv (:meth:`GnConv.forward_fused`) while training
on the CPU; everywhere else (CUDA, inference, export, tracing) the plain
``F.conv2d`` runs.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

__all__ = ['depthwise_conv2d', 'channels_last_weight_grad_allowed']


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype a convolution of ``x`` runs in (autocast's, if on)."""
    device = x.device.type
    try:
        if torch.is_autocast_enabled(device):
            return torch.get_autocast_dtype(device)
    except (AttributeError, RuntimeError, TypeError):
        pass
    return x.dtype


class _DepthwiseConv2d(torch.autograd.Function):
    """Stride 1, no dilation, ``groups == channels``, one multiplier."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor,
                bias: Optional[torch.Tensor],
                padding: Tuple[int, int]) -> torch.Tensor:
        dtype = _compute_dtype(x)
        ctx.dtypes = (x.dtype, weight.dtype,
                      None if bias is None else bias.dtype)
        x, weight = x.to(dtype), weight.to(dtype)
        bias = None if bias is None else bias.to(dtype)
        ctx.padding = padding
        ctx.save_for_backward(x, weight)
        with torch.autocast(x.device.type, enabled=False):
            return F.conv2d(
                x, weight, bias, padding=padding, groups=x.shape[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        x_dtype, w_dtype, b_dtype = ctx.dtypes
        grad = grad.to(x.dtype)
        # bias sizes, stride, padding, dilation, transposed, output padding,
        # groups
        args = (None, [1, 1], list(ctx.padding), [1, 1], False, [0, 0],
                x.shape[1])  # yapf: disable
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad, x, weight, *args, [True, False, False])[0]
            grad_x = grad_x.to(x_dtype)
        if ctx.needs_input_grad[1]:
            # float32 channels-last copies (one copy each, also for
            # bfloat16, whose channels-last kernel is slower than float32's)
            def dense(t):
                return t.to(torch.float32, memory_format=torch.channels_last)

            grad_w = torch.ops.aten.convolution_backward(
                dense(grad), dense(x), weight.float(), *args,
                [False, True, False])[1]
            grad_w = grad_w.contiguous().to(w_dtype)
        if b_dtype is not None and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3), dtype=torch.float32).to(b_dtype)
        return grad_x, grad_w, grad_b, None


def channels_last_weight_grad_allowed(x: torch.Tensor,
                                      weight: torch.Tensor) -> bool:
    """Whether :func:`depthwise_conv2d` takes the custom backward: on the
    CPU, in float32 or bfloat16, while a gradient is wanted, for a
    ``(C, 1, k, k)`` weight on ``(B, C, H, W)`` input."""
    return (x.device.type == 'cpu' and torch.is_grad_enabled()
            and (x.requires_grad or weight.requires_grad)
            and _compute_dtype(x) in (torch.float32, torch.bfloat16)
            and x.dim() == 4 and weight.shape[0] == x.shape[1]
            and weight.shape[1] == 1)


def depthwise_conv2d(x: torch.Tensor, weight: torch.Tensor,
                     bias: Optional[torch.Tensor],
                     padding: Tuple[int, int]) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=padding, groups=C)`` (stride 1),
    with the channels-last weight gradient where
    :func:`channels_last_weight_grad_allowed`."""
    if channels_last_weight_grad_allowed(x, weight):
        return _DepthwiseConv2d.apply(x, weight, bias, tuple(padding))
    return F.conv2d(x, weight, bias, padding=padding, groups=x.shape[1])
