"""Recursive gated convolution (gnConv) and its parts, in one place.

HorNet: Efficient High-Order Spatial Interactions with Recursive Gated
Convolutions, Rao et al., NeurIPS 2022 (https://arxiv.org/abs/2207.14284).
Original release: https://github.com/raoyongming/HorNet (MIT licence).

This module holds the only implementation of the three building blocks that
the HorNet backbone, the gnConv FPN neck and the gnConv UPerNet head share:

* :class:`LayerNorm2d`: LayerNorm over the channel axis of ``(B, C, H, W)``.
* :class:`GlobalLocalFilter`: the global-local filter (3x3 depthwise conv on
  one half of the channels, a learnable filter in the Fourier domain on the
  other half).
* :class:`GnConv`: gnConv of order ``n``, in the backbone form (``C -> C``,
  scale 1/3) and the decoder form (``in -> out``, optional ``proj_out``, norm
  and activation).

Deviations from the original release:

* The FFT branch of the global-local filter runs in float32 with autocast
  disabled, for any input dtype, and its result is cast back to the input
  dtype (the release casts to float32 but leaves autocast on and returns
  float32 under fp16 training).
* While exporting (:func:`exporting`) the FFT branch is computed as dense
  products with constant DFT matrices for the input's fixed size
  (:mod:`~hornet_mm.models.layers.dft`): ONNX runtimes lack a usable real
  FFT. The result equals the FFT path to float32 rounding.
* Loading a ``complex_weight`` of another filter size resizes it bilinearly
  (``align_corners=True``, the same rule the forward pass uses) with a logged
  warning; a release checkpoint trained at 224 thus loads into a 384 model.

Speed: :class:`GnConv` (and :class:`~hornet_mm.models.backbones.HorNetBlock`
around it) has a fused computation, :meth:`GnConv.forward_fused`, besides
the plain one that ``forward`` writes out: ``p`` and ``q`` from two 1x1
convolutions on slices of ``proj_in``'s weight (each output dense, so the
depthwise mixer reads no strided view), ``scale`` folded into the mixer's
weights (the 7x7 conv's weight and bias, the global filter's ``post_norm``
affine) and a per-channel output factor (the block's layer scale) folded into
``proj_out``. The folding is done at every call, so gradients reach the
stored parameters as before. Whether the fused computation replaces the
plain one is decided once per call, by :func:`fusion_allowed`: not while
``torch.jit`` traces (FLOP counting, export), not when a forward hook is
registered on any module inside, not when a part is replaced by a module of
another type, not in float16 (where a layer scale of 1e-6 times a weight
would underflow). ``fused=False`` always takes the plain path.
"""
import copy
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log

from .depthwise import depthwise_conv2d
from .dft import dft_filter2d

__all__ = [
    'LayerNorm2d', 'GlobalLocalFilter', 'GnConv', 'build_decoder_gnconv',
    'build_mixer', 'gnconv_widths', 'fusion_allowed', 'exporting'
]


def exporting() -> bool:
    """Whether the model is being exported (``torch.onnx.export`` with
    either exporter, ``torch.export``): the global filter then takes its
    matrix form, which needs no FFT operator."""
    if torch.onnx.is_in_onnx_export():
        return True
    is_exporting = getattr(torch.compiler, 'is_exporting', None)
    return bool(is_exporting is not None and is_exporting())


def _float16(x: torch.Tensor) -> bool:
    """Whether ``x`` is float16 or is computed in float16 by autocast."""
    if x.dtype == torch.float16:
        return True
    device = x.device.type
    try:
        return torch.is_autocast_enabled(device) and \
            torch.get_autocast_dtype(device) == torch.float16
    except (AttributeError, RuntimeError, TypeError):
        # older torch: no per-device autocast queries
        return torch.is_autocast_enabled()


def fusion_allowed(module: nn.Module, x: torch.Tensor) -> bool:
    """Whether ``module``'s fused computation may replace its plain one.

    The single decision for :class:`GnConv` and ``HorNetBlock``. No while
    ``torch.jit`` traces or scripts (traced graphs, FLOP counts and exports
    show the plain module calls), while global forward hooks are registered,
    when a module inside ``module`` (itself included) has a forward
    (pre-)hook, when a part a fused computation reads directly is not of
    exactly the type its class lists in ``_fused_parts`` (a subclass or a
    replacement is called as a module), or for float16 input or autocast.
    """
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return False
    module_state = nn.modules.module
    if getattr(module_state, '_global_forward_hooks', None) or getattr(
            module_state, '_global_forward_pre_hooks', None):
        return False
    if _float16(x):
        return False
    for m in module.modules():
        if m._forward_hooks or m._forward_pre_hooks:
            return False
        for name, types in getattr(m, '_fused_parts', {}).items():
            if type(getattr(m, name)) not in types:
                return False
    return True


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a channel-first ``(B, C, H, W)`` map.

    Args:
        num_channels: Number of channels ``C`` normalised together.
        eps: Added to the variance for numerical stability.

    Example:
        >>> LayerNorm2d(8)(torch.rand(2, 8, 5, 7)).shape
        torch.Size([2, 8, 5, 7])
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__(num_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return x.permute(0, 3, 1, 2)


def _resize_filter(weight: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize a ``(C, h, w, 2)`` complex filter over ``(h, w)`` bilinearly."""
    weight = F.interpolate(
        weight.permute(3, 0, 1, 2),
        size=tuple(size),
        mode='bilinear',
        align_corners=True)
    return weight.permute(1, 2, 3, 0)


class GlobalLocalFilter(nn.Module):
    """Global-local filter: half local (3x3 depthwise), half global (FFT).

    The input is layer-normalised and split into two halves. The first half
    goes through a 3x3 depthwise conv; the second is transformed with
    ``rfft2``, multiplied by a learnable complex filter and transformed back.
    The halves are interleaved (channel ``2i`` from the local half, ``2i+1``
    from the global half) and layer-normalised again.

    Args:
        channels: Number of input (and output) channels; must be even.
        h: Height of the complex filter (the spectrum's height ``H``).
        w: Width of the complex filter (the spectrum's width ``W // 2 + 1``).
            A filter whose ``(h, w)`` differs from the spectrum of the input
            is resized bilinearly, so any input size works.

    Example:
        >>> gf = GlobalLocalFilter(16, h=14, w=8)
        >>> gf(torch.rand(2, 16, 13, 19)).shape
        torch.Size([2, 16, 13, 19])
    """

    def __init__(self, channels: int, h: int = 14, w: int = 8) -> None:
        super().__init__()
        if channels % 2:
            raise ValueError(
                'GlobalLocalFilter needs an even channel count, got '
                f'{channels}')
        half = channels // 2
        self.dw = nn.Conv2d(half, half, 3, padding=1, bias=False, groups=half)
        self.complex_weight = nn.Parameter(torch.empty(half, h, w, 2))
        nn.init.trunc_normal_(self.complex_weight, std=0.02)
        self.pre_norm = LayerNorm2d(channels)
        self.post_norm = LayerNorm2d(channels)

    _fused_parts = dict(post_norm=(LayerNorm2d, ))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post_norm(self._filter(x))

    def _filter(self, x: torch.Tensor) -> torch.Tensor:
        """Everything before ``post_norm``: the two halves, interleaved."""
        x = self.pre_norm(x)
        local, glob = torch.chunk(x, 2, dim=1)
        local = self.dw(local)
        glob = self._global_filter(glob).to(local.dtype)
        batch, half, height, width = local.shape
        return torch.stack((local, glob),
                           dim=2).reshape(batch, 2 * half, height, width)

    def forward_scaled(self, x: torch.Tensor, scale: float) -> torch.Tensor:
        """``forward(x) * scale``, the factor folded into ``post_norm``'s
        affine (part of :meth:`GnConv.forward_fused`)."""
        norm = self.post_norm
        weight = None if norm.weight is None else norm.weight * scale
        bias = None if norm.bias is None else norm.bias * scale
        return F.layer_norm(
            self._filter(x).permute(0, 2, 3, 1), norm.normalized_shape, weight,
            bias, norm.eps).permute(0, 3, 1, 2)

    def _global_filter(self,
                       x: torch.Tensor,
                       matrix_form: Optional[bool] = None) -> torch.Tensor:
        """Multiply by the learnable filter in the 2-D Fourier domain.

        Runs in float32 whatever the input dtype or autocast state: cuFFT has
        no bf16 kernels and half-precision FFTs only take power-of-two sizes.
        ``matrix_form`` (default: while exporting, see :func:`exporting`)
        computes the transforms as products with constant DFT matrices for
        the input's size (:func:`~hornet_mm.models.layers.dft.dft_filter2d`)
        instead of ``rfft2`` / ``irfft2``.
        """
        height, width = x.shape[-2:]
        if matrix_form is None:
            matrix_form = exporting()
        with torch.autocast(device_type=x.device.type, enabled=False):
            weight = self.complex_weight.float()
            size = (int(height), int(width) // 2 + 1)
            if tuple(weight.shape[1:3]) != size:
                weight = _resize_filter(weight, size)
            if matrix_form:
                return dft_filter2d(x.float(), weight)
            spec = torch.fft.rfft2(x.float(), dim=(2, 3), norm='ortho')
            spec = spec * torch.view_as_complex(weight.contiguous())
            return torch.fft.irfft2(
                spec, s=(height, width), dim=(2, 3), norm='ortho')

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args,
                              **kwargs) -> None:
        key = prefix + 'complex_weight'
        weight = state_dict.get(key)
        own = self.complex_weight
        if (isinstance(weight, torch.Tensor) and weight.shape != own.shape
                and weight.dim() == 4 and weight.shape[0] == own.shape[0]
                and weight.shape[3] == 2):
            print_log(
                f'Resizing {key} from {tuple(weight.shape[1:3])} to '
                f'{tuple(own.shape[1:3])} (bilinear, align_corners=True)',
                logger='current',
                level=30)  # logging.WARNING
            state_dict[key] = _resize_filter(weight.float(),
                                             own.shape[1:3]).to(weight.dtype)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _depthwise(conv: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor,
               bias: Optional[torch.Tensor]) -> torch.Tensor:
    """``conv`` (a depthwise mixer) on ``x`` with ``weight`` / ``bias``;
    through :func:`~.depthwise.depthwise_conv2d` (the faster weight gradient
    on the CPU) when ``conv`` is a plain stride-1 depthwise convolution."""
    plain = (
        conv.groups == conv.in_channels == conv.out_channels
        and conv.stride == (1, 1) and conv.dilation == (1, 1)
        and conv.padding_mode == 'zeros' and not isinstance(conv.padding, str))
    if plain:
        return depthwise_conv2d(x, weight, bias, conv.padding)
    return conv._conv_forward(x, weight, bias)


def build_mixer(cfg: dict, channels: int) -> nn.Module:
    """Build the depthwise spatial mixer of a gnConv.

    Args:
        cfg: ``dict(type='DW', kernel_size=7)`` for a depthwise conv with bias
            or ``dict(type='GF', h=14, w=8)`` for a :class:`GlobalLocalFilter`
            (the format of mmpretrain's ``dw_cfg``; lower case is accepted).
        channels: Channels mixed (``sum(C_k)`` for a gnConv).
    """
    cfg = copy.deepcopy(dict(cfg))
    mixer_type = str(cfg.pop('type', '')).upper()
    if mixer_type == 'DW':
        kernel_size = cfg.pop('kernel_size', 7)
        bias = cfg.pop('bias', True)
        if cfg:
            raise ValueError(f'Unknown keys {sorted(cfg)} for a DW mixer')
        return nn.Conv2d(
            channels,
            channels,
            kernel_size,
            padding=(kernel_size - 1) // 2,
            bias=bias,
            groups=channels)
    if mixer_type == 'GF':
        return GlobalLocalFilter(channels, **cfg)
    raise ValueError(
        f"Unknown gnConv mixer type {mixer_type!r}: expected 'DW' or 'GF'")


def gnconv_widths(dim: int, order: int) -> List[int]:
    """Channel widths ``C_k = dim / 2^(order-1-k)`` of a gnConv, k = 0..n-1.

    Example:
        >>> gnconv_widths(256, 3)
        [64, 128, 256]
    """
    if order < 1:
        raise ValueError(f'gnConv order must be >= 1, got {order}')
    if dim % 2**(order - 1):
        raise ValueError(f'gnConv width {dim} is not divisible by '
                         f'2^(order-1) = {2**(order - 1)}')
    return [dim // 2**(order - 1 - k) for k in range(order)]


class GnConv(nn.Module):
    """Recursive gated convolution of order ``n``.

    ``proj_in`` (1x1) maps the input to ``2D`` channels, split into ``p``
    (``C_0``) and ``q`` (``sum(C_k)``). ``q`` goes through one depthwise
    mixer, is scaled by ``scale`` and split into ``q_0 .. q_{n-1}``. Then
    ``x = p * q_0`` and ``x = pw_i(x) * q_{i+1}`` for ``i < n-1``, followed by
    ``proj_out`` (1x1), an optional norm and an optional activation.

    Backbone form: ``GnConv(C, order=n, scale=1/3)``. Decoder form:
    ``GnConv(in, out, order=2, mixer_cfg=..., norm_cfg=..., act_cfg=...)``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels; defaults to ``in_channels``.
        order: Order ``n`` of the recursion.
        mixer_cfg: Spatial mixer, see :func:`build_mixer`.
        scale: Factor applied to the mixer output (1/3 in the backbone).
        dim_ratio: Inner width ``D = out_channels * dim_ratio``.
        with_proj_out: Whether to apply the 1x1 output projection ``D -> out``.
            Without it ``D`` must equal ``out_channels``.
        norm_cfg: mmcv-style norm config applied after the projection.
        act_cfg: mmcv-style activation config applied last.
        fused: Whether ``forward`` may use :meth:`forward_fused` (see
            :func:`fusion_allowed`); False always computes the equations
            module by module.

    Example:
        >>> GnConv(32, order=3)(torch.rand(1, 32, 9, 11)).shape
        torch.Size([1, 32, 9, 11])
        >>> GnConv(48, 16, order=2, norm_cfg=dict(type='BN'),
        ...        act_cfg=dict(type='ReLU'))(torch.rand(2, 48, 8, 8)).shape
        torch.Size([2, 16, 8, 8])
    """

    _fused_parts = dict(
        proj_in=(nn.Conv2d, ),
        dwconv=(nn.Conv2d, GlobalLocalFilter),
        proj_out=(nn.Conv2d, nn.Identity))

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 order: int = 5,
                 mixer_cfg: Union[dict, None] = None,
                 scale: float = 1.0,
                 dim_ratio: float = 1.0,
                 with_proj_out: bool = True,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 fused: bool = True) -> None:
        super().__init__()
        self.fused = fused
        out_channels = in_channels if out_channels is None else out_channels
        dim = int(out_channels * dim_ratio)
        if not with_proj_out and dim != out_channels:
            raise ValueError('GnConv without proj_out needs dim_ratio=1 '
                             f'(inner width {dim} != out_channels '
                             f'{out_channels})')
        self.order = order
        self.dims = gnconv_widths(dim, order)
        self.scale = scale
        mixer_cfg = dict(type='DW', kernel_size=7) if mixer_cfg is None \
            else mixer_cfg

        self.proj_in = nn.Conv2d(in_channels, 2 * dim, 1)
        self.dwconv = build_mixer(mixer_cfg, sum(self.dims))
        self.pws = nn.ModuleList(
            nn.Conv2d(self.dims[k], self.dims[k + 1], 1)
            for k in range(order - 1))
        self.proj_out = nn.Conv2d(dim, out_channels, 1) if with_proj_out \
            else nn.Identity()

        self.norm: nn.Module = nn.Identity()
        self.act: nn.Module = nn.Identity()
        if norm_cfg is not None:
            from mmcv.cnn import build_norm_layer
            self.norm = build_norm_layer(norm_cfg, out_channels)[1]
        if act_cfg is not None:
            from mmcv.cnn import build_activation_layer
            self.act = build_activation_layer(act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the gnConv to ``(B, in_channels, H, W)`` (any memory
        format; channels-last is the fast one on the CPU)."""
        if self.fused and fusion_allowed(self, x):
            return self.forward_fused(x)
        p, q = torch.split(
            self.proj_in(x), (self.dims[0], sum(self.dims)), dim=1)
        q = self.dwconv(q)
        if self.scale != 1.0:
            q = q * self.scale
        gates: Tuple[torch.Tensor, ...] = torch.split(q, self.dims, dim=1)
        x = p * gates[0]
        for pw, gate in zip(self.pws, gates[1:]):
            x = pw(x) * gate
        return self.act(self.norm(self.proj_out(x)))

    def forward_fused(
            self,
            x: torch.Tensor,
            out_scale: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``forward(x) * out_scale`` with slices and folded factors.

        For callers that have checked :func:`fusion_allowed` (``forward``
        and ``HorNetBlock``). ``out_scale`` (``(out_channels,)``, the block's
        layer scale) is folded into ``proj_out`` when no norm or activation
        follows it.
        """
        proj, split = self.proj_in, self.dims[0]
        weight, bias = proj.weight, proj.bias
        p = proj._conv_forward(x, weight[:split],
                               None if bias is None else bias[:split])
        q = proj._conv_forward(x, weight[split:],
                               None if bias is None else bias[split:])
        mixer, scale = self.dwconv, self.scale
        if isinstance(mixer, GlobalLocalFilter):
            q = mixer(q) if scale == 1.0 else mixer.forward_scaled(q, scale)
        elif scale == 1.0:
            q = _depthwise(mixer, q, mixer.weight, mixer.bias)
        else:  # a depthwise nn.Conv2d
            bias = None if mixer.bias is None else mixer.bias * scale
            q = _depthwise(mixer, q, mixer.weight * scale, bias)
        gates: Tuple[torch.Tensor, ...] = torch.split(q, self.dims, dim=1)
        x = p * gates[0]
        for pw, gate in zip(self.pws, gates[1:]):
            x = pw(x) * gate
        proj = self.proj_out
        if (out_scale is not None and isinstance(proj, nn.Conv2d)
                and isinstance(self.norm, nn.Identity)
                and isinstance(self.act, nn.Identity)):
            weight = proj.weight * out_scale.view(-1, 1, 1, 1)
            bias = None if proj.bias is None else proj.bias * out_scale
            return proj._conv_forward(x, weight, bias)
        x = self.act(self.norm(proj(x)))
        return x if out_scale is None else x * out_scale.view(-1, 1, 1)


_DECODER_DEFAULTS = dict(
    order=2,
    mixer_cfg=dict(type='DW', kernel_size=7),
    with_proj_out=True,
    dim_ratio=1)


def build_decoder_gnconv(in_channels: int,
                         out_channels: int,
                         gnconv_cfg: Optional[dict] = None,
                         norm_cfg: Optional[dict] = None,
                         act_cfg: Optional[dict] = None) -> GnConv:
    """The gnConv of the HorNet decoders (gnConv FPN, gnConv UPerNet head).

    Order 2, 7x7 depthwise mixer and ``proj_out`` unless ``gnconv_cfg`` says
    otherwise (keys ``order``, ``mixer_cfg``, ``with_proj_out``,
    ``dim_ratio``); no scale on the mixer; then the decoder's norm and
    activation.
    """
    cfg = dict(copy.deepcopy(_DECODER_DEFAULTS), **(gnconv_cfg or {}))
    unknown = set(cfg) - set(_DECODER_DEFAULTS)
    if unknown:
        raise ValueError(f'Unknown gnconv_cfg keys {sorted(unknown)}; valid: '
                         f'{sorted(_DECODER_DEFAULTS)}')
    return GnConv(
        in_channels,
        out_channels,
        scale=1.0,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg,
        **cfg)
