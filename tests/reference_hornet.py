"""Independent functional reference of the HorNet classification backbone.

This module is test infrastructure. It restates the HorNet equations
(arXiv 2207.14284, NeurIPS 2022) as plain functions over a state dict laid out
exactly like the official release (``downsample_layers.*``, ``stages.*``,
``norm.*``, ``head.*``). It deliberately uses nothing but ``torch`` and
``torch.nn.functional`` and does not import the package under test, so that it
can serve as an oracle for the port.

Public API
----------
- ``ARCHS``: architecture table of the classification models.
- ``gnconv_widths(dim, order)``: the gnConv channel widths C_0..C_{n-1}.
- ``make_official_state_dict(arch, num_classes=1000, seed=0, filter_sizes=None)``
- ``reference_forward(state_dict, x, arch, scale=1/3)``
- ``count_params(state_dict)``

Lower-level building blocks (``layer_norm_cf``, ``layer_norm_cl``,
``global_local_filter``, ``gnconv``, ``hornet_block``) are exposed too, so that
tests can check single components.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

LN_EPS = 1e-6
DEPTHS = [2, 3, 18, 2]
ORDERS = [2, 3, 4, 5]

_SEVEN = ('dw', 7)


def _arch(width: int,
          gf_sizes: Optional[Sequence[Tuple[int, int]]] = None) -> dict:
    if gf_sizes is None:
        mixers = [_SEVEN] * 4
    else:
        (h3, w3), (h4, w4) = gf_sizes
        mixers = [_SEVEN, _SEVEN, ('gf', h3, w3), ('gf', h4, w4)]
    return dict(
        base_dim=width,
        depths=list(DEPTHS),
        orders=list(ORDERS),
        mixers=mixers,
    )


_GF224 = [(14, 8), (7, 4)]
_GF384 = [(24, 13), (12, 7)]

#: Architecture table: base width C, depths, gnConv orders and per-stage mixer,
#: either ('dw', kernel_size) or ('gf', h, w) with (h, w) the stored filter size.
ARCHS: Dict[str, dict] = {
    'tiny': _arch(64),
    'tiny-gf': _arch(64, _GF224),
    'small': _arch(96),
    'small-gf': _arch(96, _GF224),
    'base': _arch(128),
    'base-gf': _arch(128, _GF224),
    'base-gf384': _arch(128, _GF384),
    'large': _arch(192),
    'large-gf': _arch(192, _GF224),
    'large-gf384': _arch(192, _GF384),
}


def _get_arch(arch) -> dict:
    if isinstance(arch, dict):
        return arch
    if arch not in ARCHS:
        raise KeyError(f'unknown arch {arch!r}; choose from {sorted(ARCHS)}')
    return ARCHS[arch]


def stage_dims(arch) -> List[int]:
    """Widths of the four stages: C * [1, 2, 4, 8]."""
    c = _get_arch(arch)['base_dim']
    return [c, 2 * c, 4 * c, 8 * c]


def gnconv_widths(dim: int, order: int) -> List[int]:
    """C_k = dim / 2^(order-1-k), k = 0..order-1 (C_{order-1} == dim)."""
    widths = []
    for k in range(order):
        div = 2**(order - 1 - k)
        if dim % div:
            raise ValueError(f'dim {dim} not divisible by {div}')
        widths.append(dim // div)
    return widths


# ----------------------------------------------------------------------------
# Random state dict with the official key layout
# ----------------------------------------------------------------------------
def make_official_state_dict(arch: str,
                             num_classes: int = 1000,
                             seed: int = 0,
                             filter_sizes=None) -> Dict[str, torch.Tensor]:
    """Random float32 weights with the official release's key names/shapes.

    Scales are chosen so that every path contributes numerically and the
    activations stay O(1) through the whole network (layer scales are ~0.3
    instead of the 1e-6 init, complex filters ~N(0, 0.5^2) per component).

    ``filter_sizes`` overrides the stored GF filter size (h, w): either a
    sequence with one (h, w) per GF stage (in stage order) or a dict
    ``{stage_index: (h, w)}``.
    """
    cfg = _get_arch(arch)
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float32)

    def conv_w(cout, cin_per_group, kh, kw):
        fan_in = cin_per_group * kh * kw
        return randn(cout, cin_per_group, kh, kw) / math.sqrt(fan_in)

    def linear_w(cout, cin):
        return randn(cout, cin) / math.sqrt(cin)

    def small_bias(n):
        return 0.02 * randn(n)

    def ln(prefix, n):
        sd[prefix + 'weight'] = 1.0 + 0.1 * randn(n)
        sd[prefix + 'bias'] = 0.1 * randn(n)

    def gamma(n):
        # magnitude roughly 0.1 .. 0.5, random sign-free
        return 0.1 + 0.4 * torch.rand(n, generator=gen, dtype=torch.float32)

    # resolve the GF filter sizes per stage
    mixers = list(cfg['mixers'])
    gf_stages = [s for s, m in enumerate(mixers) if m[0] == 'gf']
    if filter_sizes is not None:
        if isinstance(filter_sizes, dict):
            overrides = dict(filter_sizes)
        else:
            filter_sizes = list(filter_sizes)
            if len(filter_sizes) != len(gf_stages):
                raise ValueError(f'{len(gf_stages)} GF stages but '
                                 f'{len(filter_sizes)} filter sizes given')
            overrides = dict(zip(gf_stages, filter_sizes))
        for s, (h, w) in overrides.items():
            if mixers[s][0] != 'gf':
                raise ValueError(f'stage {s} has no GF mixer')
            mixers[s] = ('gf', int(h), int(w))

    dims = stage_dims(cfg)
    sd: Dict[str, torch.Tensor] = {}

    # stem: conv 4x4/4 then channel-first LN
    sd['downsample_layers.0.0.weight'] = conv_w(dims[0], 3, 4, 4)
    sd['downsample_layers.0.0.bias'] = small_bias(dims[0])
    ln('downsample_layers.0.1.', dims[0])
    # downsampling: channel-first LN then conv 2x2/2
    for i in range(1, 4):
        ln(f'downsample_layers.{i}.0.', dims[i - 1])
        sd[f'downsample_layers.{i}.1.weight'] = conv_w(dims[i], dims[i - 1], 2,
                                                       2)
        sd[f'downsample_layers.{i}.1.bias'] = small_bias(dims[i])

    for s in range(4):
        dim = dims[s]
        order = cfg['orders'][s]
        widths = gnconv_widths(dim, order)
        sum_c = sum(widths)
        mixer = mixers[s]
        for b in range(cfg['depths'][s]):
            p = f'stages.{s}.{b}.'
            ln(p + 'norm1.', dim)
            sd[p + 'gnconv.proj_in.weight'] = conv_w(2 * dim, dim, 1, 1)
            sd[p + 'gnconv.proj_in.bias'] = small_bias(2 * dim)
            if mixer[0] == 'dw':
                k = mixer[1]
                sd[p + 'gnconv.dwconv.weight'] = conv_w(sum_c, 1, k, k)
                sd[p + 'gnconv.dwconv.bias'] = small_bias(sum_c)
            else:
                _, h, w = mixer
                half = sum_c // 2
                ln(p + 'gnconv.dwconv.pre_norm.', sum_c)
                sd[p + 'gnconv.dwconv.dw.weight'] = conv_w(half, 1, 3, 3)
                sd[p + 'gnconv.dwconv.complex_weight'] = 0.5 * randn(
                    half, h, w, 2)
                ln(p + 'gnconv.dwconv.post_norm.', sum_c)
            for k in range(order - 1):
                sd[p + f'gnconv.pws.{k}.weight'] = conv_w(
                    widths[k + 1], widths[k], 1, 1)
                sd[p + f'gnconv.pws.{k}.bias'] = small_bias(widths[k + 1])
            sd[p + 'gnconv.proj_out.weight'] = conv_w(dim, dim, 1, 1)
            sd[p + 'gnconv.proj_out.bias'] = small_bias(dim)
            ln(p + 'norm2.', dim)
            sd[p + 'pwconv1.weight'] = linear_w(4 * dim, dim)
            sd[p + 'pwconv1.bias'] = small_bias(4 * dim)
            sd[p + 'pwconv2.weight'] = linear_w(dim, 4 * dim)
            sd[p + 'pwconv2.bias'] = small_bias(dim)
            sd[p + 'gamma1'] = gamma(dim)
            sd[p + 'gamma2'] = gamma(dim)

    ln('norm.', dims[3])
    sd['head.weight'] = linear_w(num_classes, dims[3])
    sd['head.bias'] = small_bias(num_classes)
    return sd


def count_params(state_dict: Dict[str, torch.Tensor]) -> int:
    """Total number of elements of all tensors of the state dict."""
    return int(sum(v.numel() for v in state_dict.values()))


# ----------------------------------------------------------------------------
# Functional building blocks
# ----------------------------------------------------------------------------
def layer_norm_cf(x: torch.Tensor,
                  weight: torch.Tensor,
                  bias: torch.Tensor,
                  eps: float = LN_EPS) -> torch.Tensor:
    """LayerNorm over the channel axis of (B, C, H, W) with per-channel affine."""
    mean = x.mean(dim=1, keepdim=True)
    var = (x - mean).pow(2).mean(dim=1, keepdim=True)  # biased variance
    x = (x - mean) / torch.sqrt(var + eps)
    return x * weight[:, None, None] + bias[:, None, None]


def layer_norm_cl(x: torch.Tensor,
                  weight: torch.Tensor,
                  bias: torch.Tensor,
                  eps: float = LN_EPS) -> torch.Tensor:
    """LayerNorm over the last axis."""
    return F.layer_norm(x, (x.shape[-1], ), weight, bias, eps)


def conv1x1(x: torch.Tensor, weight: torch.Tensor,
            bias: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, weight, bias)


def depthwise_conv(x: torch.Tensor, weight: torch.Tensor,
                   bias: Optional[torch.Tensor]) -> torch.Tensor:
    """KxK depthwise conv, 'same' padding (K-1)//2, stride 1."""
    k = weight.shape[-1]
    return F.conv2d(x, weight, bias, padding=(k - 1) // 2, groups=x.shape[1])


def resize_complex_weight(weight: torch.Tensor,
                          size: Tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (align_corners=True) of a (C, h, w, 2) filter over (h, w)."""
    if tuple(weight.shape[1:3]) == tuple(size):
        return weight
    w = weight.permute(3, 0, 1, 2)  # (2, C, h, w): batch=2 (re/im), channels=C
    w = F.interpolate(w, size=tuple(size), mode='bilinear', align_corners=True)
    return w.permute(1, 2, 3, 0).contiguous()


def global_local_filter(x: torch.Tensor, sd: Dict[str, torch.Tensor],
                        prefix: str) -> torch.Tensor:
    """Global-local filter; ``prefix`` ends with 'dwconv.'."""
    x = layer_norm_cf(x, sd[prefix + 'pre_norm.weight'],
                      sd[prefix + 'pre_norm.bias'])
    c = x.shape[1]
    a, b = x[:, :c // 2], x[:, c // 2:]
    # local half: 3x3 depthwise, no bias
    a = depthwise_conv(a, sd[prefix + 'dw.weight'], None)
    # global half: filter in the 2-D real-FFT domain, in float32
    bb, cc, h, w = b.shape
    spec = torch.fft.rfft2(
        b.float(), dim=(2, 3), norm='ortho')  # (B, C/2, H, W//2+1)
    cw = resize_complex_weight(sd[prefix + 'complex_weight'].float(),
                               spec.shape[2:4])
    spec = spec * torch.view_as_complex(cw.contiguous())
    b = torch.fft.irfft2(spec, s=(h, w), dim=(2, 3), norm='ortho')
    # interleave: out[2i] = a[i], out[2i+1] = b[i]
    out = torch.stack([a, b.to(a.dtype)], dim=2).reshape(bb, 2 * cc, h, w)
    return layer_norm_cf(out, sd[prefix + 'post_norm.weight'],
                         sd[prefix + 'post_norm.bias'])


def gnconv(x: torch.Tensor,
           sd: Dict[str, torch.Tensor],
           prefix: str,
           order: int,
           mixer: str,
           scale: float = 1.0 / 3) -> torch.Tensor:
    """Recursive gated convolution; ``prefix`` ends with 'gnconv.'.

    ``mixer`` is 'dw' (KxK depthwise conv with bias) or 'gf' (global-local filter).
    """
    dim = x.shape[1]
    widths = gnconv_widths(dim, order)
    fused = conv1x1(x, sd[prefix + 'proj_in.weight'],
                    sd[prefix + 'proj_in.bias'])
    p, q = fused[:, :widths[0]], fused[:, widths[0]:]
    if mixer == 'dw':
        q = depthwise_conv(q, sd[prefix + 'dwconv.weight'],
                           sd[prefix + 'dwconv.bias'])
    elif mixer == 'gf':
        q = global_local_filter(q, sd, prefix + 'dwconv.')
    else:
        raise ValueError(mixer)
    q = q * scale
    qs = torch.split(q, widths, dim=1)
    out = p * qs[0]
    for i in range(order - 1):
        out = conv1x1(out, sd[prefix + f'pws.{i}.weight'],
                      sd[prefix + f'pws.{i}.bias'])
        out = out * qs[i + 1]
    return conv1x1(out, sd[prefix + 'proj_out.weight'],
                   sd[prefix + 'proj_out.bias'])


def hornet_block(x: torch.Tensor,
                 sd: Dict[str, torch.Tensor],
                 prefix: str,
                 order: int,
                 mixer: str,
                 scale: float = 1.0 / 3) -> torch.Tensor:
    """One HorNet block (eval mode, no drop path); ``prefix`` ends with '.'."""
    y = layer_norm_cf(x, sd[prefix + 'norm1.weight'],
                      sd[prefix + 'norm1.bias'])
    y = gnconv(y, sd, prefix + 'gnconv.', order, mixer, scale)
    x = x + sd[prefix + 'gamma1'][:, None, None] * y

    y = x.permute(0, 2, 3, 1)  # channels-last
    y = layer_norm_cl(y, sd[prefix + 'norm2.weight'],
                      sd[prefix + 'norm2.bias'])
    y = F.linear(y, sd[prefix + 'pwconv1.weight'], sd[prefix + 'pwconv1.bias'])
    y = F.gelu(y)  # exact (erf) GELU
    y = F.linear(y, sd[prefix + 'pwconv2.weight'], sd[prefix + 'pwconv2.bias'])
    y = sd[prefix + 'gamma2'] * y
    return x + y.permute(0, 3, 1, 2)


def reference_forward(state_dict: Dict[str, torch.Tensor],
                      x: torch.Tensor,
                      arch,
                      scale: float = 1.0 / 3) -> dict:
    """Eval-mode forward from an official-layout state dict.

    Returns a dict with
    - 'stages': the four stage outputs (last block of each stage, no output norm),
    - 'pooled': global average pool of the last stage followed by ``norm``,
    - 'logits': ``head`` applied to 'pooled'.
    The GF filter size is taken from the stored ``complex_weight`` tensors
    (resized to the spectrum when it differs).
    """
    cfg = _get_arch(arch)
    sd = state_dict
    stages = []
    for s in range(4):
        if s == 0:
            x = F.conv2d(
                x,
                sd['downsample_layers.0.0.weight'],
                sd['downsample_layers.0.0.bias'],
                stride=4)
            x = layer_norm_cf(x, sd['downsample_layers.0.1.weight'],
                              sd['downsample_layers.0.1.bias'])
        else:
            x = layer_norm_cf(x, sd[f'downsample_layers.{s}.0.weight'],
                              sd[f'downsample_layers.{s}.0.bias'])
            x = F.conv2d(
                x,
                sd[f'downsample_layers.{s}.1.weight'],
                sd[f'downsample_layers.{s}.1.bias'],
                stride=2)
        mixer = cfg['mixers'][s][0]
        for b in range(cfg['depths'][s]):
            x = hornet_block(x, sd, f'stages.{s}.{b}.', cfg['orders'][s],
                             mixer, scale)
        stages.append(x)
    pooled = layer_norm_cl(
        x.mean(dim=(2, 3)), sd['norm.weight'], sd['norm.bias'])
    logits = F.linear(pooled, sd['head.weight'], sd['head.bias'])
    return dict(stages=stages, pooled=pooled, logits=logits)
