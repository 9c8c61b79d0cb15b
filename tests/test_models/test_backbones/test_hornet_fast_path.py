"""The fast forward of HorNet against the plain formulation.

hornet_mm's HorNet keeps its maps channels-last, runs the MLP as 1x1
convolutions on the CPU and folds the gnConv scale and the layer scales into
weights on the fly. :class:`hornet_mm.utils.benchmark.PlainHorNet` writes the
equations out as the release does (its equality with
``tests/reference_hornet.py`` is checked in
``tests/test_tools/test_benchmark.py``). Same weights, same outputs and
gradients to 1e-4 (float32); hooks, traces and float16 take the plain path.
"""
import pytest
import torch
import torch.nn as nn

import reference_hornet as ref
from hornet_mm.models import HorNet, convert_hornet_state_dict
from hornet_mm.models.layers import GnConv
from hornet_mm.models.layers.gnconv import can_fold_scale, use_fast_path
from hornet_mm.utils.benchmark import PlainHorNet
from small_hornet import SMALL, SMALL_REF


def _weights(out_indices=(3, ), seed=0):
    """Official-layout random weights (layer scales ~0.1..0.5, so that every
    path matters), in hornet_mm's layout, with random output norms."""
    official = ref.make_official_state_dict(SMALL_REF, seed=seed)
    converted = convert_hornet_state_dict(official)
    weights = {
        k[len('backbone.'):]: v
        for k, v in converted.items() if k.startswith('backbone.')
    }
    del weights['norm3.weight'], weights['norm3.bias']
    gen = torch.Generator().manual_seed(seed + 1)
    for i in out_indices:
        dim = 16 * 2**i
        weights[f'norm{i}.weight'] = 1 + 0.1 * torch.randn(dim, generator=gen)
        weights[f'norm{i}.bias'] = 0.1 * torch.randn(dim, generator=gen)
    return weights


def _pair(out_indices=(3, ), gap=True, seed=0, **kwargs):
    weights = _weights(out_indices, seed)
    fast = HorNet(
        SMALL, out_indices=out_indices, gap_before_final_norm=gap, **kwargs)
    plain = PlainHorNet(
        SMALL, out_indices=out_indices, gap_before_final_norm=gap)
    fast.load_state_dict(weights)
    plain.load_state_dict(weights)
    return fast, plain


def _close(actual, expected, tol=1e-4):
    """Within ``tol`` relative to the tensor's scale (float32)."""
    scale = max(1.0, expected.abs().max().item())
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize('size', [(64, 64), (72, 104)])
def test_fast_outputs_equal_plain(size):
    fast, plain = _pair(out_indices=(0, 1, 2, 3), gap=False)
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        outs, expected = fast.eval()(x), plain.eval()(x)
    for out, exp in zip(outs, expected):
        assert out.is_contiguous()  # dense outputs stay NCHW-contiguous
        _close(out, exp)


def test_fast_gradients_equal_plain():
    fast, plain = _pair(out_indices=(2, 3), gap=False)
    fast.train(), plain.train()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    gen = torch.Generator().manual_seed(5)
    probes = None
    for model in (fast, plain):
        xi = x.clone().requires_grad_()
        outs = model(xi)
        if probes is None:
            probes = [torch.randn(o.shape, generator=gen) for o in outs]
        sum((o * p).sum() for o, p in zip(outs, probes)).backward()
        model.input_grad = xi.grad
    _close(fast.input_grad, plain.input_grad)
    plain_params = dict(plain.named_parameters())
    names = [n for n, _ in fast.named_parameters()]
    assert sorted(names) == sorted(plain_params)
    for name, param in fast.named_parameters():
        assert param.grad is not None, name
        _close(param.grad, plain_params[name].grad)


def test_with_cp_gradients_equal_plain():
    fast, plain = _pair(with_cp=True)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    fast(x)[0].square().sum().backward()
    plain(x)[0].square().sum().backward()
    plain_params = dict(plain.named_parameters())
    for name, param in fast.named_parameters():
        _close(param.grad, plain_params[name].grad)


def test_bf16_autocast_close_to_plain():
    fast, plain = _pair()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(7))
    with torch.inference_mode():
        expected = plain.eval()(x)[0]
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = fast.eval()(x)[0]
    assert torch.isfinite(out).all()
    # bfloat16 keeps ~3 significant digits through 6 blocks
    torch.testing.assert_close(out.float(), expected, rtol=0.1, atol=0.1)


def test_layer_scale_not_folded_in_float16():
    x = torch.zeros(1, 2, 3, 3)
    assert can_fold_scale(x)
    assert not can_fold_scale(x.half())
    with torch.autocast('cpu', dtype=torch.float16):
        assert not can_fold_scale(x)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert can_fold_scale(x)
    # a layer scale of 1e-6 folded into float16 weights would underflow:
    # the unfolded product keeps it
    module = GnConv(8, order=2).half()
    gamma = torch.full((8, ), 1e-6, dtype=torch.float16)
    y = module(torch.randn(1, 8, 5, 5).half(), gamma)
    assert (y != 0).any()


def test_hooked_modules_are_called():
    fast, _ = _pair()
    block = fast.stages[0][0]
    seen = []
    for name in ('gnconv', 'gnconv.proj_in', 'gnconv.dwconv',
                 'gnconv.proj_out', 'pwconv1', 'pwconv2'):
        block.get_submodule(name).register_forward_hook(
            lambda m, a, o, name=name: seen.append(name))
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        hooked = fast.eval()(x)[0]
    assert sorted(seen) == sorted([
        'gnconv', 'gnconv.proj_in', 'gnconv.dwconv', 'gnconv.proj_out',
        'pwconv1', 'pwconv2'
    ])
    fresh, _ = _pair()
    with torch.no_grad():
        _close(hooked, fresh.eval()(x)[0])
    assert use_fast_path(nn.Linear(2, 2))
    linear = nn.Linear(2, 2)
    linear.register_forward_pre_hook(lambda m, a: None)
    assert not use_fast_path(linear)


def test_traced_graph_has_the_plain_module_calls():
    """A jit trace (FLOP counting) sees linear layers and one proj_in conv
    per block, not the CPU shortcuts."""
    fast, _ = _pair()
    trace = torch.jit.trace(fast.eval(), torch.randn(1, 3, 32, 32))
    nodes = [n.kind() for n in trace.inlined_graph.nodes()]
    assert nodes.count('aten::linear') == 2 * sum(SMALL['depths'])
    # stem, 3 downsamples; per block proj_in, dwconv (7x7 stages) or the
    # filter's 3x3, order-1 pws, proj_out
    convs = 4 + sum(d * (3 + o - 1)
                    for d, o in zip(SMALL['depths'], SMALL['orders']))
    assert nodes.count('aten::_convolution') == convs
