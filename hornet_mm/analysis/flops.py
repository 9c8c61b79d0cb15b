"""FLOP and parameter counts of hornet_mm models, FFTs included.

Built on :mod:`mmengine.analysis` (fvcore-style jit tracing, one
multiply-add counts as one flop). mmengine has no rule for the FFTs of the
global-local filter (``aten::fft_rfft2`` / ``aten::fft_irfft2``) and counts
them as 0; :func:`count_flops` adds handles for them and for the other
places where the HorNet numbers in circulation differ from mmengine's
defaults. Three conventions are offered; all count convolutions and linear
layers (``aten::_convolution``, ``aten::linear``, ``aten::addmm``, ...) as
multiply-adds, ignore activations (GELU), element-wise products and sums,
and count everything else by mmengine's default handles.

``'release'`` (default) -- the official HorNet release's ``calc_flops.py``
    (raoyongming/HorNet: fvcore's ``FlopCountAnalysis`` on the whole
    classifier, head included, with one extra handle for
    ``aten::fft_rfft2`` and ``aten::fft_irfft2``). That handle reads the
    shape of the op's first input as ``(B, H, W, C)`` and counts
    ``N * C * ceil(log2(N))`` with ``N = H * W``. The global filter's input
    is in fact channel-first, so for a real input ``(B, C, H, W)`` the rule
    counts ``C * H * W * ceil(log2(C * H))`` for ``rfft2`` and, on the
    complex spectrum ``(B, C, H, W // 2 + 1)``,
    ``C * H * (W // 2 + 1) * ceil(log2(C * H))`` for ``irfft2``; it is
    reproduced as such (see :func:`release_fft_flops`), times ``B`` (the
    release ignores the batch size; its counts use ``B = 1``). The complex
    multiply by the filter is not counted. LayerNorm counts 5 flops per
    element (fvcore's ``aten::layer_norm`` rule) only where the release
    calls ``F.layer_norm``, i.e. on channels-last maps (the MLP's ``norm2``
    and the classifier's final norm); the release computes its
    channel-first LayerNorms (stem, downsampling, ``norm1``, the global
    filter's ``pre_norm`` / ``post_norm``, the dense models' output norms)
    with element-wise ops that fvcore does not count, so every
    :class:`~hornet_mm.models.layers.LayerNorm2d` counts 0 here. (hornet_mm's
    backbone normalises the pooled vector with a LayerNorm2d where the
    release uses a channels-last LayerNorm: ``5 * C`` flops, under 1e-5 G,
    fewer than the release.) These are the numbers of the release's README
    (to its one decimal: T 4.0 / T-GF 3.9, S 8.8 / 8.7, B 15.6 / 15.5,
    L-GF 384 101.8; the FFT is what makes B-GF 15.5 rather than 15.4).

``'published'`` -- the numbers of the HorNet model zoo tables (mmcls /
    mmpretrain, and ``HORNET_SPEC.md``): T 3.98 / T-GF 3.90, S 8.83 / 8.71,
    B 15.59 / 15.42, L 34.83 / 34.58 (224), L-GF 384 101.63. All nine are
    reproduced to their two decimals by counting what mmcv 1.x's hook-based
    counter (mmcls 0.x's tool) sees of the mmcls port, and by no other
    combination of the candidate rules tried (LayerNorm at 0/1/2/4/5 flops
    per element, channel-first or not; GELU; conv bias; head; FFT by
    several rules): convolutions count their multiply-adds plus one add per
    output element for the bias, linear layers their multiply-adds, and
    nothing else -- HorNet's LayerNorms are custom modules, GELU has no
    hook, and the FFT is a functional call that hooks never see. Only the
    backbone is counted (the libraries' tools trace ``extract_feat``; the
    parameters do include the head). This convention counts exactly that:
    conv multiply-adds + bias adds, linear multiply-adds, LayerNorm 0, FFT
    0; ``tools/analysis_tools/get_flops.py`` traces only ``extract_feat``
    of a classifier under it. No convention that counts FFT work can match
    the table: its GF entries leave no room for it (T-GF counts 3.897 G
    here, 3.914 G with the release's FFT rule added). (mmpretrain 1.x's
    metafile gives exact integers for T..B-GF, those of ``'release'``
    without FFT and head -- mmengine's counter on the mmcls port -- which
    round to the same table except B: 15,582,677,376 is 15.58 G, labelled
    15.59 there.)

``'mmengine'`` -- mmengine's defaults (every LayerNorm counts 5 flops per
    element, channel-first ones included) plus the release's FFT rule.

Example:
    >>> from hornet_mm.models.backbones import HorNet
    >>> result = count_flops(HorNet('tiny-gf').eval(), (3, 224, 224))
    >>> result['fft_flops']  # 18 x (564480 + 322560) + 2 x (291648 + 166656)
    16883328
"""
import math
from collections import Counter
from contextlib import contextmanager
from typing import (Any, Callable, Dict, FrozenSet, Iterator, List, Optional,
                    Sequence, Tuple, Union)

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import (conv_flop_jit, get_shape,
                                           norm_flop_counter)
from mmengine.analysis.print_helper import complexity_stats_table

from hornet_mm.models.layers import LayerNorm2d

__all__ = [
    'CONVENTIONS', 'FFT_OPS', 'count_flops', 'release_fft_flops',
    'fft_flop_jit', 'zero_flop_jit', 'conv_bias_flop_jit'
]

Handle = Callable[[List[Any], List[Any]], Union[int, Counter]]

#: Names accepted by ``count_flops(convention=...)``.
CONVENTIONS: Tuple[str, ...] = ('release', 'published', 'mmengine')

#: FFT ops given the FFT handle. ``torch.fft.rfft2`` / ``irfft2`` trace as
#: ``aten::fft_rfft2`` / ``aten::fft_irfft2``; the others are there for other
#: FFT calls and for builds that record the lower-level ``aten::_fft_*`` ops.
FFT_OPS: Tuple[str, ...] = (
    'aten::fft_rfft2',
    'aten::fft_irfft2',
    'aten::fft_rfftn',
    'aten::fft_irfftn',
    'aten::fft_fft2',
    'aten::fft_ifft2',
    'aten::fft_fftn',
    'aten::fft_ifftn',
    'aten::_fft_r2c',
    'aten::_fft_c2r',
    'aten::_fft_c2c',
)

# Reinterpretations of memory that compute nothing: counted as 0 so that
# they do not show up as unsupported ops.
_FREE_OPS: Tuple[str, ...] = ('aten::view_as_complex', 'aten::view_as_real')


def release_fft_flops(shape: Sequence[int]) -> int:
    """FLOPs of one FFT op under the official HorNet release's rule.

    The release's ``rfft_flop_jit`` unpacks the shape of the op's first input
    as ``(B, H, W, C)`` and returns ``N * C * ceil(log2(N))`` with
    ``N = H * W``, whatever the layout really is. For the global filter's
    channel-first ``(B, C, H, W)`` input this is
    ``C * H * W * ceil(log2(C * H))``. Here the count is multiplied by ``B``
    (the release ignores it and counts with ``B = 1``) and other ranks are
    read the same way, as ``(B, *middle, last)`` with ``N = prod(middle)``.

    Args:
        shape: Shape of the op's first input (a real map for ``rfft2``, the
            complex spectrum for ``irfft2``).

    Returns:
        The flop count.

    Example:
        >>> release_fft_flops((1, 240, 14, 14))  # 3360 * 14 * 12
        564480
    """
    shape = [int(s) for s in shape]
    if len(shape) < 2:
        raise ValueError(f'An FFT input needs a batch axis, got {shape}')
    batch, last = shape[0], shape[-1]
    n = math.prod(shape[1:-1])
    if n <= 1:
        return 0
    return batch * n * last * math.ceil(math.log2(n))


def fft_flop_jit(inputs: List[Any], outputs: List[Any]) -> Counter:
    """Flop handle for the FFT ops: :func:`release_fft_flops` on input 0."""
    shape = get_shape(inputs[0])
    if shape is None:
        return Counter({'fft': 0})
    return Counter({'fft': release_fft_flops(shape)})


def zero_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """Flop handle for ops that compute nothing (always 0)."""
    return 0


def conv_bias_flop_jit(inputs: List[Any], outputs: List[Any]) -> Counter:
    """Convolution multiply-adds plus one add per output for the bias.

    mmcv 1.x's counter (the HorNet model zoo's numbers) counted the bias;
    mmengine's ``conv_flop_jit`` does not. The bias part is reported under
    ``'conv_bias'``.
    """
    counts = conv_flop_jit(inputs, outputs)
    out_shape = get_shape(outputs[0])
    if get_shape(inputs[2]) is not None and out_shape is not None:
        counts['conv_bias'] = math.prod(out_shape)
    return counts


def _layer_norm_flop_jit(channel_first: FrozenSet[str]) -> Handle:
    """mmengine's LayerNorm rule (5 flops per element), reported under
    ``'layer_norm_2d'`` for the modules named in ``channel_first`` and under
    ``'layer_norm'`` otherwise."""
    default = norm_flop_counter(2)

    def handle(inputs: List[Any], outputs: List[Any]) -> Counter:
        scope = outputs[0].node().scopeName().split('/')[-1]
        key = 'layer_norm_2d' if scope in channel_first else 'layer_norm'
        return Counter({key: default(inputs, outputs)})

    return handle


# The trace reports flops in components; a convention leaves some out.
_EXCLUDED: Dict[str, FrozenSet[str]] = {
    'release': frozenset({'conv_bias', 'layer_norm_2d'}),
    'published': frozenset({'layer_norm', 'layer_norm_2d', 'fft'}),
    'mmengine': frozenset({'conv_bias'}),
}


def _handles(model: nn.Module) -> Dict[str, Handle]:
    """Op handles added to (or replacing) mmengine's, reporting components:
    ``conv`` / ``conv_bias``, ``layer_norm`` / ``layer_norm_2d``, ``fft``."""
    channel_first = frozenset(name for name, module in model.named_modules()
                              if isinstance(module, LayerNorm2d))
    handles: Dict[str, Handle] = dict.fromkeys(_FREE_OPS, zero_flop_jit)
    handles.update(dict.fromkeys(FFT_OPS, fft_flop_jit))
    handles['aten::_convolution'] = conv_bias_flop_jit
    handles['aten::layer_norm'] = _layer_norm_flop_jit(channel_first)
    return handles


class _ConventionFlopAnalyzer(FlopAnalyzer):
    """A FlopAnalyzer whose per-module sums leave out some components.

    One trace serves every convention: set :attr:`excluded` and read
    :meth:`by_module` (which mmengine's table printer uses).
    """

    excluded: FrozenSet[str] = frozenset()

    def by_module(self) -> Counter:
        return Counter({
            name:
            sum(v for k, v in ops.items() if k not in self.excluded)
            for name, ops in self.by_module_and_operator().items()
        })


@contextmanager
def _forward_replaced(model: nn.Module,
                      forward: Optional[Callable[..., Any]]) -> Iterator[None]:
    """Make ``model.forward`` another callable for the duration."""
    if forward is None:
        yield
        return
    # Through __dict__: nn.Module.__setattr__ would register a module given
    # as ``forward`` as a submodule instead of shadowing the method.
    had_attr = 'forward' in model.__dict__
    saved = model.__dict__.get('forward')
    model.__dict__['forward'] = forward
    try:
        yield
    finally:
        if had_attr:
            model.__dict__['forward'] = saved
        else:
            del model.__dict__['forward']


def _dummy_input(model: nn.Module, input_shape: Sequence[int]) -> torch.Tensor:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        shape = (1, ) + shape
    if len(shape) != 4:
        raise ValueError('input_shape must be (C, H, W) or (N, C, H, W), got '
                         f'{tuple(input_shape)}')
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device('cpu')
    return torch.rand(shape, device=device)


def _first_shape(inputs: Any) -> Tuple[int, ...]:
    items = inputs if isinstance(inputs, (tuple, list)) else (inputs, )
    for item in items:
        if isinstance(item, torch.Tensor):
            return tuple(item.shape)
    return ()


def count_flops(model: nn.Module,
                input_shape: Optional[Sequence[int]] = None,
                *,
                inputs: Union[torch.Tensor, Tuple[Any, ...], None] = None,
                forward: Optional[Callable[..., Any]] = None,
                convention: str = 'release',
                max_depth: Optional[int] = None) -> Dict[str, Any]:
    """Count the FLOPs and parameters of a model, FFTs included.

    The model is traced once with ``torch.jit`` (it runs one forward pass
    under ``torch.no_grad()``); put it in eval mode first, as drop path and
    batch statistics change the trace. The one trace gives the totals of
    every convention (``flops_by_convention``); ``convention`` picks the one
    reported as ``flops`` and used by ``by_operator`` and the table.

    Args:
        model: The model. Its parameters are all counted, whatever the traced
            forward uses.
        input_shape: ``(C, H, W)`` or ``(N, C, H, W)`` of a random input
            (batch 1 for the former), on the device of the model's
            parameters. Ignored when ``inputs`` is given.
        inputs: The positional inputs of the traced call instead (a tensor or
            a tuple), e.g. a detector's preprocessed batch.
        forward: A callable traced instead of ``model.forward`` (for example
            ``model.extract_feat``, or ``functools.partial(model.forward,
            data_samples=..., mode='tensor')``); ``model.forward`` is
            restored afterwards. Module names stay those of ``model``.
        convention: ``'release'``, ``'published'`` or ``'mmengine'``; see
            the module docstring.
        max_depth: When given, also return a per-module table (module depth
            up to ``max_depth``) under ``'table'``.

    Returns:
        A dict with ``flops`` (int, one multiply-add = one flop), ``params``
        (int), ``fft_flops`` (the part of ``flops`` from FFT ops),
        ``flops_by_convention`` (convention name -> total), ``by_operator``
        (flops per op kind or component), ``unsupported_ops`` (op kinds
        counted as 0 because no handle knows them, with their number of
        calls), ``convention``, ``input_shape`` (of the first input tensor)
        and ``table`` (a string, or None without ``max_depth``).
    """
    if convention not in CONVENTIONS:
        raise ValueError(f'Unknown convention {convention!r}; expected one '
                         f'of {", ".join(CONVENTIONS)}')
    if inputs is None:
        if input_shape is None:
            raise ValueError('count_flops needs input_shape or inputs')
        inputs = _dummy_input(model, input_shape)

    analyzer = _ConventionFlopAnalyzer(model, inputs)
    analyzer.set_op_handle(**_handles(model))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    excluded = _EXCLUDED[convention]
    analyzer.excluded = excluded
    table = None
    with torch.no_grad(), _forward_replaced(model, forward):
        components = dict(analyzer.by_operator())
        unsupported = dict(analyzer.unsupported_ops())
        if max_depth is not None:
            table = complexity_stats_table(
                analyzer, max_depth=max_depth, show_param_shapes=False)
    totals = {
        name: int(sum(v for k, v in components.items() if k not in skip))
        for name, skip in _EXCLUDED.items()
    }
    return dict(
        flops=totals[convention],
        params=sum(p.numel() for p in model.parameters()),
        fft_flops=0 if 'fft' in excluded else int(components.get('fft', 0)),
        flops_by_convention=totals,
        by_operator={
            k: int(v)
            for k, v in components.items() if k not in excluded
        },
        unsupported_ops=unsupported,
        convention=convention,
        input_shape=_first_shape(inputs),
        table=table)
