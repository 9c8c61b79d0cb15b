"""The fused forward of HorNet against the plain formulation.

hornet_mm's HorNet blocks run the MLP as 1x1 convolutions or as
``F.linear`` on the CPU (both forms are tested) and fold the gnConv scale and
the layer scales into weights on the fly (``HorNetBlock.forward_fused``);
``HorNet(fused=False)`` computes the equations module by module, and is
itself checked here against the independent functional reference
``tests/reference_hornet.py``. Same weights,
same outputs and gradients to 1e-4 (float32); hooks, traces, replaced
modules and float16 take the plain path.
"""
import pytest
import torch
import torch.nn as nn

import reference_hornet as ref
from hornet_mm.models import HorNet, convert_hornet_state_dict
from hornet_mm.models.layers import CPU_MLP_FORMS, fusion_allowed
from small_hornet import SMALL, SMALL_REF


@pytest.fixture(params=CPU_MLP_FORMS)
def mlp_form(request, monkeypatch):
    """Each test below runs with both CPU formulations of the MLP."""
    monkeypatch.setenv('HORNET_MM_CPU_MLP', request.param)
    return request.param


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
    plain = HorNet(
        SMALL, out_indices=out_indices, gap_before_final_norm=gap, fused=False)
    fast.load_state_dict(weights)
    plain.load_state_dict(weights)
    return fast, plain


def _close(actual, expected, tol=1e-4):
    """Within ``tol`` relative to the tensor's scale (float32)."""
    scale = max(1.0, expected.abs().max().item())
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize('size', [(64, 64), (72, 104)])
def test_fast_outputs_equal_plain(size, mlp_form):
    fast, plain = _pair(out_indices=(0, 1, 2, 3), gap=False)
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        outs, expected = fast.eval()(x), plain.eval()(x)
    for out, exp in zip(outs, expected):
        assert out.is_contiguous()  # dense outputs stay NCHW-contiguous
        _close(out, exp)


def _gradients_of_both(out_indices, size=(64, 64), bf16=False):
    fast, plain = _pair(out_indices=out_indices, gap=False)
    fast.train(), plain.train()
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(4))
    gen = torch.Generator().manual_seed(5)
    probes = None
    for model in (fast, plain):
        xi = x.clone().requires_grad_()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            outs = model(xi)
        if probes is None:
            probes = [torch.randn(o.shape, generator=gen) for o in outs]
        sum((o.float() * p).sum() for o, p in zip(outs, probes)).backward()
        model.input_grad = xi.grad
    plain_params = dict(plain.named_parameters())
    names = [n for n, _ in fast.named_parameters()]
    assert sorted(names) == sorted(plain_params)
    for name, param in fast.named_parameters():
        assert param.grad is not None, name
    return fast, plain, plain_params


# (2, 3): as a segmentor's; (0, 1, 2, 3) at a non-square size: as a
# detector's (every stage's dense output, 7x7 and global-filter stages)
@pytest.mark.parametrize('out_indices,size', [((2, 3), (64, 64)),
                                              ((0, 1, 2, 3), (64, 96))])
def test_fast_gradients_equal_plain(out_indices, size, mlp_form):
    fast, plain, plain_params = _gradients_of_both(out_indices, size)
    _close(fast.input_grad, plain.input_grad)
    for name, param in fast.named_parameters():
        _close(param.grad, plain_params[name].grad)


def test_bf16_autocast_gradients_close_to_plain(mlp_form):
    """Training under bfloat16 autocast: the fused path's gradients (its
    7x7 weight gradient computed channels-last) against the plain path's
    under the same autocast."""
    fast, plain, plain_params = _gradients_of_both((0, 1, 2, 3), bf16=True)
    for name, param in fast.named_parameters():
        assert param.grad.dtype == torch.float32
        expected = plain_params[name].grad
        scale = max(1e-3, expected.abs().max().item())
        # bfloat16 keeps ~3 significant digits, through 6 blocks and back
        torch.testing.assert_close(
            param.grad, expected, rtol=0.1, atol=0.05 * scale, msg=name)


def test_with_cp_gradients_equal_plain(mlp_form):
    fast, plain = _pair(with_cp=True)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(6))
    fast(x)[0].square().sum().backward()
    plain(x)[0].square().sum().backward()
    plain_params = dict(plain.named_parameters())
    for name, param in fast.named_parameters():
        _close(param.grad, plain_params[name].grad)


def test_bf16_autocast_close_to_plain(mlp_form):
    fast, plain = _pair()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(7))
    with torch.inference_mode():
        expected = plain.eval()(x)[0]
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = fast.eval()(x)[0]
    assert torch.isfinite(out).all()
    # bfloat16 keeps ~3 significant digits through 6 blocks
    torch.testing.assert_close(out.float(), expected, rtol=0.1, atol=0.1)


def _fused_calls(block):
    calls = []
    fused = block.forward_fused
    block.forward_fused = lambda x: calls.append(x.dtype) or fused(x)
    return calls


def test_float16_takes_the_plain_path():
    """A layer scale of 1e-6 folded into float16 weights would underflow:
    float16 (input or autocast) computes the unfolded product."""
    block = HorNet(SMALL).stages[0][0]
    calls = _fused_calls(block)
    x = torch.randn(1, 16, 5, 5)
    block(x)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        block(x)
    assert calls == [torch.float32, torch.float32]
    with torch.autocast('cpu', dtype=torch.float16):
        assert not fusion_allowed(block, x)
    block.half()
    assert not fusion_allowed(block, x.half())
    assert torch.isfinite(block(x.half())).all()
    assert len(calls) == 2


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
    x = torch.zeros(1, 16, 4, 4)
    block = HorNet(SMALL).stages[0][0]
    assert fusion_allowed(block, x)
    block.gnconv.pws[0].register_forward_pre_hook(lambda m, a: None)
    assert not fusion_allowed(block, x)


class _Linear(nn.Linear):
    calls = 0

    def forward(self, x):
        type(self).calls += 1
        return super().forward(x)


def test_replaced_parts_take_the_plain_path():
    """A part the fused computation reads directly, replaced by a module of
    another type (a subclass here, a quantised layer in practice), is called
    as a module."""
    fast, plain = _pair()
    block = fast.stages[1][0]
    old = block.pwconv2
    block.pwconv2 = _Linear(old.in_features, old.out_features)
    block.pwconv2.load_state_dict(old.state_dict())
    assert not fusion_allowed(block, torch.zeros(1, 32, 4, 4))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        _close(fast.eval()(x)[0], plain.eval()(x)[0])
    assert _Linear.calls == 1
    # the gnConv's own parts count too
    block = HorNet(SMALL).stages[0][0]
    block.gnconv.proj_in = nn.Sequential(block.gnconv.proj_in)
    assert not fusion_allowed(block, torch.zeros(1, 16, 4, 4))


def test_switched_off_never_fuses():
    model = HorNet(SMALL, fused=False)
    assert not any(getattr(m, 'fused', False) for m in model.modules())
    calls = []
    for module in model.modules():
        if hasattr(module, 'forward_fused'):
            module.forward_fused = lambda *a, **k: calls.append(1)
    model(torch.randn(1, 3, 32, 32))
    assert not calls


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
