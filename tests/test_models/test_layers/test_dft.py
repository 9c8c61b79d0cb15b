"""The global filter's matrix form (export) against the FFT it replaces."""
import io
import math

import pytest
import torch

from hornet_mm.models.layers import (GlobalLocalFilter, dft_filter2d,
                                     dft_matrices, exporting)

# odd, even, non-square, degenerate; 7 / 14 / 32 are HorNet's map sides at
# 224 / 512 input, 50 x 84 that of an 800 x 1344 detector input at stride 16
SIZES = [(1, 1), (2, 3), (5, 5), (6, 5), (7, 7), (13, 19), (14, 14), (8, 15),
         (32, 32), (50, 84)]


def fft_filter(x, weight):
    """The release's formulation, in float64."""
    spec = torch.fft.rfft2(x.double(), dim=(2, 3), norm='ortho')
    spec = spec * torch.view_as_complex(weight.double().contiguous())
    return torch.fft.irfft2(spec, s=x.shape[2:], dim=(2, 3), norm='ortho')


def naive_filter(x, weight):
    """The definitions written out, in float64: the half spectrum
    ``X[k1, k2] = sum_hw x e^{-2 pi i (k1 h / H + k2 w / W)} / sqrt(HW)``,
    ``k2 <= W / 2``, multiplied by the filter, and the real inverse
    ``y[h, w] = sum_k c_k2 Re(Y[k1, k2] e^{+2 pi i (...)}) / sqrt(HW)`` with
    ``c = 2`` except for the zero and (even ``W``) Nyquist columns."""
    height, width = x.shape[2:]
    freqs = width // 2 + 1
    h = torch.arange(height, dtype=torch.float64)
    w = torch.arange(width, dtype=torch.float64)
    k2 = torch.arange(freqs, dtype=torch.float64)
    phase = 2 * math.pi * (
        h[:, None, None, None] * h[None, None, :, None] / height +
        k2[None, :, None, None] * w[None, None, None, :] / width
    )  # (k1, k2, h, w)
    kernel = torch.exp(1j * phase) / math.sqrt(height * width)
    spec = torch.einsum('bchw,klhw->bckl', x.to(torch.complex128),
                        kernel.conj())
    spec = spec * torch.view_as_complex(weight.double().contiguous())
    coef = torch.full((freqs, ), 2.0, dtype=torch.float64)
    coef[0] = 1.0
    if width % 2 == 0:
        coef[-1] = 1.0
    return torch.einsum('bckl,klhw->bchw', spec * coef, kernel).real


@pytest.mark.parametrize('size', SIZES)
def test_matrix_form_equals_the_fft(size):
    height, width = size
    gen = torch.Generator().manual_seed(height * 100 + width)
    x = torch.randn(2, 3, height, width, generator=gen)
    weight = torch.randn(3, height, width // 2 + 1, 2, generator=gen)
    got = dft_filter2d(x, weight)
    assert got.dtype == torch.float32 and got.shape == x.shape
    want = fft_filter(x, weight)
    assert (got.double() - want).abs().max() < 1e-5
    # and both agree with the definition written out
    assert (naive_filter(x, weight) - want).abs().max() < 1e-10


def test_matrices_are_exact_unitary_parts():
    """Forward then inverse with a filter of ones is the identity, also for
    a map that is not real-symmetric (odd and even widths)."""
    for height, width in [(6, 5), (7, 8)]:
        x = torch.randn(1, 2, height, width)
        ones = torch.zeros(2, height, width // 2 + 1, 2)
        ones[..., 0] = 1
        assert (dft_filter2d(x, ones) - x).abs().max() < 1e-5
    rfft_w, fft_h, ifft_h, irfft_w = dft_matrices(6, 5)
    assert rfft_w.shape == (5, 6) and irfft_w.shape == (6, 5)
    # the height transforms are each other's inverse
    assert (fft_h @ ifft_h - torch.eye(12)).abs().max() < 1e-6


def test_filter_of_the_wrong_size_is_named():
    with pytest.raises(ValueError, match=r'\(C, 6, 3, 2\)'):
        dft_filter2d(torch.rand(1, 2, 6, 5), torch.rand(2, 6, 4, 2))


@pytest.mark.parametrize('size', [(7, 7), (12, 20), (9, 13)])
def test_global_local_filter_matrix_form(size):
    """The module's two forms agree, including a filter trained for 224
    (14 x 8) resized to another map size, and their gradients agree."""
    torch.manual_seed(0)
    gf = GlobalLocalFilter(8, h=14, w=8)
    x = torch.randn(2, 4, *size, requires_grad=True)
    fft = gf._global_filter(x, matrix_form=False)
    matrix = gf._global_filter(x, matrix_form=True)
    assert (fft - matrix).abs().max() < 1e-4
    grad = torch.randn_like(fft)
    g_fft = torch.autograd.grad(fft, (x, gf.complex_weight), grad)
    g_mat = torch.autograd.grad(matrix, (x, gf.complex_weight), grad)
    for a, b in zip(g_fft, g_mat):
        assert (a - b).abs().max() < 1e-4


def test_matrix_form_only_while_exporting():
    """Outside export the FFT runs (exporting() is False); inside
    torch.onnx.export the module exports, which the TorchScript exporter
    cannot do with an FFT (rfft2 has no symbolic at any opset)."""
    assert not exporting()
    gf = GlobalLocalFilter(8, h=6, w=4).eval()
    seen = []

    def spy(module, args, output):
        seen.append(exporting())

    handle = gf.register_forward_hook(spy)
    try:
        torch.onnx.export(
            gf, (torch.rand(1, 8, 6, 6), ),
            io.BytesIO(),
            opset_version=17,
            dynamo=False)
    finally:
        handle.remove()
    assert seen == [True]
    with pytest.raises(Exception, match='fft_rfft2'):
        torch.onnx.export(
            _FFTOnly(), (torch.rand(1, 2, 6, 6), ),
            io.BytesIO(),
            opset_version=17,
            dynamo=False)


class _FFTOnly(torch.nn.Module):

    def forward(self, x):
        return torch.fft.rfft2(x).abs()
