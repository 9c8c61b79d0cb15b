"""A depthwise convolution whose weight gradient is computed apart on the
CPU.

PyTorch's CPU backward of a depthwise 7x7 convolution spends most of its
time on the weight gradient: for HorNet-T at batch 8 and 224 x 224 the 7x7
mixers' backward was over 40% of a bf16 training step, the input gradient a
tenth of it. :func:`depthwise_conv2d` computes the forward pass and the input
gradient as PyTorch does and the weight gradient in float32 in one of these
forms (:data:`WEIGHT_GRAD_FORMS`), equal to float32 rounding (under bfloat16
autocast: the products of the same bfloat16 values, summed in float32):

* ``'channels_last'``: oneDNN's weight gradient from channels-last copies of
  the input and of the output gradient;
* ``'batched'``: the weight gradient as one forward depthwise convolution of
  the padded input, its ``B x C`` maps as channels, with the output
  gradient's maps as kernels, summed over the batch (``(1, B*C, H+2p, W+2p)``
  by ``(B*C, 1, H, W)``, a forward kernel of oneDNN's);
* ``'batched_channels_last'``: the same on a channels-last copy.

At HorNet-T's map sizes, batch 8, the ``'batched'`` form took 0.9 ms at
14 x 14 and 480 channels against 3.8 ms for ``'channels_last'`` and 0.6
against 16 ms at 7 x 7 and 992 channels (AMD EPYC, family 26, AVX-512);
at 56 x 56 the channels-last forms were faster there. Which form is used is
measured per machine (:func:`~.cpu_forms.cpu_weight_grad_form`).

It is used by the fused gnConv (:meth:`GnConv.forward_fused`) while training
on the CPU; everywhere else (CUDA, inference, export, tracing) the plain
``F.conv2d`` runs.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

__all__ = [
    'WEIGHT_GRAD_FORMS', 'depthwise_conv2d', 'depthwise_weight_grad',
    'weight_grad_apart_allowed'
]

WEIGHT_GRAD_FORMS = ('channels_last', 'batched', 'batched_channels_last')


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
            from .cpu_forms import cpu_weight_grad_form
            form = cpu_weight_grad_form(x.shape[2] * x.shape[3])
            grad_w = depthwise_weight_grad(x, grad, weight.shape, ctx.padding,
                                           form).to(w_dtype)
        if b_dtype is not None and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3), dtype=torch.float32).to(b_dtype)
        return grad_x, grad_w, grad_b, None


def depthwise_weight_grad(x: torch.Tensor, grad: torch.Tensor,
                          weight_shape: Sequence[int], padding: Sequence[int],
                          form: str) -> torch.Tensor:
    """The float32 weight gradient ``(C, 1, kh, kw)`` of a stride-1
    depthwise convolution of ``x`` (``(B, C, H, W)``) with ``padding``,
    given the output gradient ``grad``, in ``form`` (one of
    :data:`WEIGHT_GRAD_FORMS`)."""
    channels, _, kh, kw = weight_shape
    ph, pw = padding
    with torch.autocast(x.device.type, enabled=False):
        if form == 'channels_last':

            def dense(t):
                # one copy each, also for bfloat16, whose channels-last
                # kernel is slower than float32's
                return t.to(torch.float32, memory_format=torch.channels_last)

            args = (None, [1, 1], [ph, pw], [1, 1], False, [0, 0], channels)
            weight = x.new_zeros((channels, 1, kh, kw), dtype=torch.float32)
            grad_w = torch.ops.aten.convolution_backward(
                dense(grad), dense(x), weight, *args, [False, True, False])[1]
            return grad_w.contiguous()
        if form not in WEIGHT_GRAD_FORMS:
            raise ValueError(f'unknown weight-gradient form {form!r}; '
                             f"expected one of {', '.join(WEIGHT_GRAD_FORMS)}")
        b, c, h, w = x.shape
        # (1, B*C, H + 2ph, W + 2pw): every map of every image a channel
        maps = F.pad(x.float(),
                     (pw, pw, ph, ph)).reshape(1, b * c, h + 2 * ph,
                                               w + 2 * pw)
        if form == 'batched_channels_last':
            maps = maps.contiguous(memory_format=torch.channels_last)
        kernels = grad.float().reshape(b * c, 1, grad.shape[2], grad.shape[3])
        grad_w = F.conv2d(maps, kernels, groups=b * c)  # (1, B*C, kh, kw)
        return grad_w.reshape(b, c, kh, kw).sum(0).unsqueeze(1)


def weight_grad_apart_allowed(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether :func:`depthwise_conv2d` computes the weight gradient apart:
    on the CPU, in float32 or bfloat16, while a gradient is wanted, for a
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
    with the weight gradient computed apart (:func:`depthwise_weight_grad`)
    where :func:`weight_grad_apart_allowed`."""
    if weight_grad_apart_allowed(x, weight):
        return _DepthwiseConv2d.apply(x, weight, bias, tuple(padding))
    return F.conv2d(x, weight, bias, padding=padding, groups=x.shape[1])
