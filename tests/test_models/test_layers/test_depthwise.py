"""depthwise_conv2d: the depthwise convolution of the fused gnConv, with
its weight gradient computed apart on the CPU (three forms), against
PyTorch's own convolution and its autograd, and the weight gradient against
its definition written out as sums of shifted products."""
import pytest
import torch
import torch.nn.functional as F

from hornet_mm.models.layers import cpu_forms
from hornet_mm.models.layers.depthwise import (WEIGHT_GRAD_FORMS,
                                               depthwise_conv2d,
                                               depthwise_weight_grad)


@pytest.fixture(params=WEIGHT_GRAD_FORMS)
def form(request, monkeypatch):
    """Each weight-gradient form in turn, forced through the environment."""
    monkeypatch.setenv(cpu_forms.DW_ENV, request.param)
    return request.param


def _weight_grad_by_definition(x, grad, kh, kw, ph, pw):
    """dW[c, i, j] = sum over n, h, w of x_pad[n, c, h + i, w + j] *
    grad[n, c, h, w], in float64."""
    xp = F.pad(x.double(), (pw, pw, ph, ph))
    g = grad.double()
    out = torch.zeros(x.shape[1], 1, kh, kw, dtype=torch.float64)
    for i in range(kh):
        for j in range(kw):
            window = xp[:, :, i:i + g.shape[2], j:j + g.shape[3]]
            out[:, 0, i, j] = (window * g).sum((0, 2, 3))
    return out


@pytest.mark.parametrize('name', WEIGHT_GRAD_FORMS)
@pytest.mark.parametrize(
    'shape,kernel,padding,channels_last,dtype',
    [((3, 6, 14, 14), (7, 7), (3, 3), True, torch.float32),
     ((2, 5, 9, 13), (7, 7), (3, 3), False, torch.float32),
     ((2, 4, 10, 8), (3, 5), (1, 2), True, torch.float32),
     ((2, 4, 11, 7), (5, 3), (0, 1), False, torch.float32),
     ((2, 6, 14, 14), (7, 7), (3, 3), True, torch.bfloat16)])
def test_weight_grad_forms_equal_the_definition(name, shape, kernel, padding,
                                                channels_last, dtype):
    gen = torch.Generator().manual_seed(0)
    kh, kw = kernel
    ph, pw = padding
    out_size = (shape[2] + 2 * ph - kh + 1, shape[3] + 2 * pw - kw + 1)
    x = torch.randn(*shape, generator=gen).to(dtype)
    grad = torch.randn(shape[0], shape[1], *out_size, generator=gen).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        grad = grad.contiguous(memory_format=torch.channels_last)
    expected = _weight_grad_by_definition(x, grad, kh, kw, ph, pw)
    got = depthwise_weight_grad(x, grad, (shape[1], 1, kh, kw), padding, name)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    # the products of the same (bfloat16) values, summed in float32
    torch.testing.assert_close(
        got.double(), expected, rtol=1e-5, atol=1e-5 * expected.abs().max())


def test_an_unknown_weight_grad_form_is_refused():
    x = torch.randn(1, 2, 5, 5)
    with pytest.raises(ValueError, match="'rows'.*channels_last"):
        depthwise_weight_grad(x, x, (2, 1, 3, 3), (1, 1), 'rows')


def _inputs(channels, size, kernel, bias=True, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, channels, *size, generator=gen)
    weight = torch.randn(channels, 1, kernel, kernel, generator=gen) * 0.2
    b = torch.randn(channels, generator=gen) if bias else None
    probe = torch.randn(2, channels, *size, generator=gen)
    return x, weight, b, probe


def _grads(fn, x, weight, bias, probe):
    leaves = [t.clone().requires_grad_() for t in (x, weight)]
    if bias is not None:
        leaves.append(bias.clone().requires_grad_())
    out = fn(*leaves[:2], leaves[2] if bias is not None else None)
    (out.float() * probe).sum().backward()
    return out, [leaf.grad for leaf in leaves]


@pytest.mark.parametrize('channels,size,kernel,bias',
                         [(8, (14, 14), 7, True), (5, (9, 13), 7, False),
                          (12, (20, 16), 3, True)])
def test_float32_values_and_gradients_equal_conv2d(channels, size, kernel,
                                                   bias, form):
    x, weight, b, probe = _inputs(channels, size, kernel, bias)
    pad = (kernel // 2, kernel // 2)

    def ours(x, w, b):
        return depthwise_conv2d(x, w, b, pad)

    def reference(x, w, b):
        return F.conv2d(x, w, b, padding=pad, groups=channels)

    out, grads = _grads(ours, x, weight, b, probe)
    assert 'DepthwiseConv2d' in type(out.grad_fn).__name__
    expected, expected_grads = _grads(reference, x, weight, b, probe)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    for grad, exp in zip(grads, expected_grads):
        assert grad.dtype == torch.float32 and grad.is_contiguous()
        scale = exp.abs().max().item()
        torch.testing.assert_close(grad, exp, rtol=1e-5, atol=1e-5 * scale)


def test_bfloat16_autocast_matches_autocast_conv2d(form):
    x, weight, b, probe = _inputs(16, (14, 14), 7)
    pad = (3, 3)

    def autocast(fn):

        def run(x, w, b):
            with torch.autocast('cpu', dtype=torch.bfloat16):
                return fn(x, w, b)

        return run

    out, grads = _grads(
        autocast(lambda x, w, b: depthwise_conv2d(x, w, b, pad)), x, weight, b,
        probe)
    expected, expected_grads = _grads(
        autocast(lambda x, w, b: F.conv2d(x, w, b, padding=pad, groups=16)), x,
        weight, b, probe)
    assert out.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(out, expected)
    for grad, exp in zip(grads, expected_grads):
        assert grad.dtype == torch.float32  # the parameters' dtype
        scale = exp.abs().max().item()
        # the same bfloat16 products, summed in another order
        torch.testing.assert_close(grad, exp, rtol=2e-2, atol=2e-2 * scale)


def test_without_gradients_plain_conv2d_runs():
    x, weight, b, _ = _inputs(8, (14, 14), 7)
    out = depthwise_conv2d(x, weight, b, (3, 3))
    assert out.grad_fn is None
    with torch.no_grad():
        w = weight.clone().requires_grad_()
        assert depthwise_conv2d(x, w, b, (3, 3)).grad_fn is None
