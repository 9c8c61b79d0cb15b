"""The global filter's FFT as dense matrix products, for export.

:class:`~hornet_mm.models.layers.GlobalLocalFilter` multiplies half of its
channels by a learnable filter in the 2-D Fourier domain:
``irfft2(rfft2(x, norm='ortho') * W, s=(H, W), norm='ortho')``. ONNX has no
real-FFT operator that the TorchScript exporter can emit, and the ``DFT``
node of the dynamo exporter is missing from several runtimes. For a fixed
spatial size the same transform is four matrix products with constant
cosine / sine matrices, which every runtime has:

1. ``rfft`` over the width: ``x @ [C_w | -S_w] / sqrt(W)`` (``W x 2K``,
   ``K = W // 2 + 1``), giving the real and imaginary parts;
2. ``fft`` over the height: ``[[C_h, S_h], [-S_h, C_h]] / sqrt(H)`` applied
   from the left to the real and imaginary parts stacked over the height;
3. the complex product with the filter;
4. ``ifft`` over the height (the conjugate matrix), then the complex-to-real
   transform over the width, ``[Re | Im] @ [c C_w^T ; -c S_w^T] / sqrt(W)``
   with ``c_k = 2`` except for the zero frequency and, for even ``W``, the
   Nyquist frequency (``c_k = 1``). As in ``irfft``, the imaginary parts of
   those two frequencies do not contribute.

The matrices are built in float64 from exact integer phases ``(k * n) mod N``
and stored in float32; the result equals the FFT path to float32 rounding.
"""
import functools
import math
from typing import Tuple

import torch

__all__ = ['dft_filter2d', 'dft_matrices']


@functools.lru_cache(maxsize=64)
def dft_matrices(
    height: int, width: int
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The constant matrices of :func:`dft_filter2d` for an ``H x W`` map.

    Returns:
        ``(rfft_w, fft_h, ifft_h, irfft_w)``, float32 on the CPU, of shapes
        ``(W, 2K)``, ``(2H, 2H)``, ``(2H, 2H)`` and ``(2K, W)``.

    Example:
        >>> [tuple(m.shape) for m in dft_matrices(6, 5)]
        [(5, 6), (12, 12), (12, 12), (6, 5)]
    """
    if height < 1 or width < 1:
        raise ValueError(f'DFT size must be positive, got {height}x{width}')
    freqs = width // 2 + 1

    def phases(size: int, count: int) -> torch.Tensor:
        n = torch.arange(size, dtype=torch.int64)
        k = torch.arange(count, dtype=torch.int64)
        step = 2 * math.pi / size
        return (n[:, None] * k[None, :] % size).double() * step

    ang_w = phases(width, freqs)  # (W, K)
    cos_w, sin_w = ang_w.cos(), ang_w.sin()
    rfft_w = torch.cat((cos_w, -sin_w), dim=1) / math.sqrt(width)

    ang_h = phases(height, height)  # (H, H), symmetric
    cos_h, sin_h = ang_h.cos(), ang_h.sin()
    fft_h = torch.cat((torch.cat(
        (cos_h, sin_h), dim=1), torch.cat(
            (-sin_h, cos_h), dim=1))) / math.sqrt(height)
    ifft_h = torch.cat((torch.cat(
        (cos_h, -sin_h), dim=1), torch.cat(
            (sin_h, cos_h), dim=1))) / math.sqrt(height)

    weight = torch.full((freqs, 1), 2.0, dtype=torch.float64)
    weight[0] = 1.0
    if width % 2 == 0:
        weight[-1] = 1.0
    irfft_w = torch.cat(
        (weight * cos_w.T, -weight * sin_w.T)) / math.sqrt(width)
    return tuple(m.float() for m in (rfft_w, fft_h, ifft_h, irfft_w))


def dft_filter2d(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``irfft2(rfft2(x) * weight)`` (orthonormal) by matrix products.

    Args:
        x: Real maps ``(B, C, H, W)``.
        weight: The filter ``(C, H, W // 2 + 1, 2)`` (real, imaginary), of the
            spectrum's size (resize it first if it has another).

    Returns:
        The filtered maps ``(B, C, H, W)`` in ``x``'s dtype.

    Example:
        >>> x, w = torch.rand(2, 3, 6, 5), torch.rand(3, 6, 3, 2)
        >>> y = torch.fft.irfft2(torch.fft.rfft2(x, norm='ortho')
        ...                      * torch.view_as_complex(w), s=(6, 5),
        ...                      norm='ortho')
        >>> torch.allclose(dft_filter2d(x, w), y, atol=1e-5)
        True
    """
    height, width = int(x.shape[-2]), int(x.shape[-1])
    freqs = width // 2 + 1
    if tuple(weight.shape[1:]) != (height, freqs, 2):
        raise ValueError(
            f'Filter of shape {tuple(weight.shape)} does not fit a '
            f'{height}x{width} map: expected (C, {height}, {freqs}, 2)')
    rfft_w, fft_h, ifft_h, irfft_w = (
        m.to(device=x.device, dtype=x.dtype)
        for m in dft_matrices(height, width))
    spec = torch.matmul(x, rfft_w)  # (B, C, H, 2K): real | imaginary
    spec = torch.cat((spec[..., :freqs], spec[..., freqs:]), dim=-2)
    spec = torch.matmul(fft_h, spec)  # (B, C, 2H, K): real over imaginary
    real, imag = spec[..., :height, :], spec[..., height:, :]
    w_real, w_imag = weight[..., 0], weight[..., 1]
    spec = torch.cat(
        (real * w_real - imag * w_imag, real * w_imag + imag * w_real), dim=-2)
    spec = torch.matmul(ifft_h, spec)  # (B, C, 2H, K)
    spec = torch.cat((spec[..., :height, :], spec[..., height:, :]), dim=-1)
    return torch.matmul(spec, irfft_w)
