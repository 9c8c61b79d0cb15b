"""RoIAlign (average pooling) as vectorised PyTorch operations.

mmcv's CPU ``roi_align`` runs one RoI, channel and bin after another on one
thread; in a small Mask R-CNN trained on the CPU its forward and backward
take about a quarter of the step. The same computation, written as one
weighted gather:

- every output bin of every RoI averages ``gh x gw`` bilinear samples
  (``sampling_ratio``, or ``ceil(roi size / output size)`` when it is 0);
- a bilinear sample is a weighted sum of 4 feature pixels, so each output
  bin is a weighted sum of ``4 * gh * gw`` pixel vectors of ``C`` channels;
- the pixel indices and weights are computed for all RoIs at once, and
  :func:`torch.nn.functional.embedding_bag` (``mode='sum'`` with
  ``per_sample_weights``) sums the channels-last pixel rows, on all threads;
  autograd gives the backward (the transposed weighted scatter), as mmcv's
  ``roi_align_backward`` does.

The sampling rules are mmcv's, term by term (``mmcv/ops/csrc/pytorch/cpu/
roi_align.cpp``): the RoI scaled by ``spatial_scale`` and shifted by half a
pixel when ``aligned``; for ``aligned=False`` RoIs at least 1 pixel wide and
high; a sample above ``-1`` and below the map's size is clamped into it
(below 0 to 0, at or past the last row or column to it), one outside gives
0; a bin's value is its samples' sum divided by ``max(gh * gw, 1)``. No
gradient reaches the RoIs, as in mmcv.
"""
import functools
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.utils import _pair

__all__ = ['RoIAlign', 'roi_align_gather']


def _axis(
    start: torch.Tensor, size: torch.Tensor, bins: int, grid: int, limit: int
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Along one axis, for ``n`` RoIs: the low and high pixel indices and
    their weights of each of the ``bins * grid`` samples, ``(n, bins,
    grid)`` each, with the out-of-map samples' weights 0."""
    step = (size / bins)[:, None, None]  # mmcv's bin_size
    arange = functools.partial(
        torch.arange, dtype=start.dtype, device=start.device)
    # mmcv's order of operations: start + ph * bin + (i + .5) * bin / grid
    coord = (
        start[:, None, None] + arange(bins)[None, :, None] * step +
        (arange(grid)[None, None, :] + .5) * step / grid)
    inside = (coord >= -1.0) & (coord <= limit)
    coord = coord.clamp(min=0)
    low = coord.floor()
    last = low >= limit - 1
    low = torch.where(last, torch.full_like(low, limit - 1), low)
    coord = torch.where(last, low, coord)
    high = torch.where(last, low, low + 1)
    frac = coord - low
    zero = torch.zeros_like(frac)
    w_high = torch.where(inside, frac, zero)
    w_low = torch.where(inside, 1 - frac, zero)
    return low.long(), high.long(), w_low, w_high


def _gather_group(table: torch.Tensor, batch: torch.Tensor,
                  start: torch.Tensor, size: torch.Tensor, out_h: int,
                  out_w: int, grid_h: int, grid_w: int, height: int,
                  width: int) -> torch.Tensor:
    """``(n, C, out_h, out_w)`` for ``n`` RoIs (``start``, ``size``: x, y
    in map pixels) sampled on one grid size."""
    n, channels = start.shape[0], table.shape[1]
    if grid_h == 0 or grid_w == 0:
        # an empty RoI with aligned=True: mmcv's 0, still in the graph
        index = torch.zeros(
            n * out_h * out_w, 1, dtype=torch.long, device=table.device)
        weight = table.new_zeros(n * out_h * out_w, 1)
    else:
        y_lo, y_hi, wy_lo, wy_hi = _axis(start[:, 1], size[:, 1], out_h,
                                         grid_h, height)
        x_lo, x_hi, wx_lo, wx_hi = _axis(start[:, 0], size[:, 0], out_w,
                                         grid_w, width)
        # (n, out_h, grid_h, 2) rows and (n, out_w, grid_w, 2) columns
        rows = (
            torch.stack((y_lo, y_hi), -1) * width +
            (batch * (height * width))[:, None, None, None])
        cols = torch.stack((x_lo, x_hi), -1)
        wy = torch.stack((wy_lo, wy_hi), -1)
        wx = torch.stack((wx_lo, wx_hi), -1)
        # (n, out_h, out_w, grid_h, 2, grid_w, 2): each corner of each sample
        bag = 4 * grid_h * grid_w
        index = (rows[:, :, None, :, :, None, None] +
                 cols[:, None, :, None, None, :, :]).reshape(-1, bag)
        weight = ((wy[:, :, None, :, :, None, None] *
                   wx[:, None, :, None, None, :, :]) /
                  (grid_h * grid_w)).reshape(-1, bag).to(table.dtype)
    out = F.embedding_bag(index, table, per_sample_weights=weight, mode='sum')
    return out.view(n, out_h, out_w, channels).permute(0, 3, 1, 2)


def roi_align_gather(input: torch.Tensor,
                     rois: torch.Tensor,
                     output_size: Union[int, Tuple[int, int]],
                     spatial_scale: float = 1.0,
                     sampling_ratio: int = 0,
                     aligned: bool = True) -> torch.Tensor:
    """Average RoIAlign of ``rois`` (``(n, 5)``: image index, x1, y1, x2, y2)
    on ``input`` (``(N, C, H, W)``), as mmcv's ``roi_align`` with
    ``pool_mode='avg'``; ``(n, C, out_h, out_w)``.

    Example:
        >>> feat = torch.arange(16.).view(1, 1, 4, 4)
        >>> roi_align_gather(feat, torch.tensor([[0., 0, 0, 4, 4]]), 1)
        tensor([[[[7.5000]]]])
    """
    out_h, out_w = _pair(output_size)
    n = rois.shape[0]
    num, channels, height, width = input.shape
    if n == 0:  # no RoIs: an empty output, still in the graph
        return input.reshape(-1)[:0].view(0, channels, out_h, out_w)
    # coordinates in float32 (float64 for float64 maps), as mmcv's kernel
    rois = rois.detach().to(torch.float64 if input.dtype ==
                            torch.float64 else torch.float32)
    batch = rois[:, 0].long()
    start = rois[:, 1:3] * spatial_scale - (0.5 if aligned else 0.0)
    size = (rois[:, 3:5] * spatial_scale - (0.5 if aligned else 0.0)) - start
    if not aligned:  # mmcv's backward-compatible minimum size of 1
        size = size.clamp(min=1.0)
    elif bool((size < 0).any()):
        raise ValueError('RoIAlign: RoIs with x2 < x1 or y2 < y1')
    # channels-last pixel rows: the gather reads C contiguous values
    table = input.permute(0, 2, 3, 1).reshape(num * height * width, channels)
    if sampling_ratio > 0:
        return _gather_group(table, batch, start, size, out_h, out_w,
                             sampling_ratio, sampling_ratio, height, width)
    # mmcv's adaptive grid: ceil(roi size / output size) per RoI and axis
    grid_h = torch.ceil(size[:, 1] / out_h).long()
    grid_w = torch.ceil(size[:, 0] / out_w).long()
    keys = grid_h * (int(grid_w.max()) + 1) + grid_w
    parts, order = [], []
    for key in torch.unique(keys).tolist():
        idx = torch.nonzero(keys == key).squeeze(1)
        gh, gw = int(grid_h[idx[0]]), int(grid_w[idx[0]])
        parts.append(
            _gather_group(table, batch[idx], start[idx], size[idx], out_h,
                          out_w, gh, gw, height, width))
        order.append(idx)
    if len(parts) == 1:
        return parts[0]
    inverse = torch.empty_like(keys)
    inverse[torch.cat(order)] = torch.arange(n, device=keys.device)
    return torch.cat(parts)[inverse]


class RoIAlign(nn.Module):
    """mmcv's ``RoIAlign`` (same arguments), computed by
    :func:`roi_align_gather` for average pooling on the CPU and by mmcv's op
    otherwise (CUDA, ``pool_mode='max'``, ``use_torchvision``, ONNX export).

    Args:
        output_size: Output height and width.
        spatial_scale: Scale from RoI coordinates to the feature map.
        sampling_ratio: Samples per bin and axis; 0: adaptive.
        pool_mode: ``'avg'`` or ``'max'``.
        aligned: Half-pixel shift of the RoIs (mmcv's default True).
        use_torchvision: Use torchvision's op, as mmcv's module does.
    """

    def __init__(self,
                 output_size: Union[int, Tuple[int, int]],
                 spatial_scale: float = 1.0,
                 sampling_ratio: int = 0,
                 pool_mode: str = 'avg',
                 aligned: bool = True,
                 use_torchvision: bool = False) -> None:
        super().__init__()
        if pool_mode not in ('avg', 'max'):
            raise ValueError(f"RoIAlign: pool_mode {pool_mode!r}: expected "
                             "'avg' or 'max'")
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.pool_mode = pool_mode
        self.aligned = aligned
        self.use_torchvision = use_torchvision
        self._mmcv: Optional[nn.Module] = None

    def forward(self, input: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        # an ONNX export takes mmcv's op, which has its symbolic
        # (mmcv::MMCVRoIAlign); a traced gather would fix the sampling grid
        if (input.device.type == 'cpu' and self.pool_mode == 'avg'
                and not self.use_torchvision
                and not torch.onnx.is_in_onnx_export()):
            return roi_align_gather(input, rois, self.output_size,
                                    self.spatial_scale, self.sampling_ratio,
                                    self.aligned)
        if self._mmcv is None:
            from mmcv.ops import RoIAlign as MMCVRoIAlign

            # not a submodule: it has no state, and the state dict stays
            # that of mmcv's layer (none)
            object.__setattr__(
                self, '_mmcv',
                MMCVRoIAlign(self.output_size, self.spatial_scale,
                             self.sampling_ratio, self.pool_mode, self.aligned,
                             self.use_torchvision))
        return self._mmcv(input, rois)

    def extra_repr(self) -> str:
        return (f'output_size={self.output_size}, '
                f'spatial_scale={self.spatial_scale}, '
                f'sampling_ratio={self.sampling_ratio}, '
                f'pool_mode={self.pool_mode}, aligned={self.aligned}, '
                f'use_torchvision={self.use_torchvision}')
