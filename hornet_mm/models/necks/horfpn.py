"""HorFPN: an FPN whose output convolutions are gnConv modules (mmdet).

The gnConv FPN of the HorNet paper (Sec. 4.3, "gnConv for decoders"): mmdet's
FPN with every 3x3 output convolution replaced by an order-2 gnConv in the
decoder form (1x1 projection in, a 7x7 depthwise or global-local filter
mixer, 1x1 projection out, then the FPN's norm and activation). Extra levels
built by convolutions (``add_extra_convs``) keep their strided 3x3
convolution, followed by a gnConv, as in the original release.

Everything else (levels, laterals, top-down path, extra levels, upsampling,
initialisation) is mmdet's ``FPN``, which this class extends.
"""
from typing import List, Optional, Union

import torch.nn as nn
from mmdet.models.necks import FPN

from hornet_mm.registry import MODELS
from ..layers import build_decoder_gnconv

__all__ = ['HorFPN']


@MODELS.register_module()
class HorFPN(FPN):
    """FPN with order-2 gnConv output convolutions.

    Args:
        in_channels: Channels of each backbone level.
        out_channels: Channels of every output level.
        num_outs: Number of output levels.
        gnconv_cfg: Options of the output gnConvs (see
            :class:`~hornet_mm.models.layers.GnConv`): ``order`` (2),
            ``mixer_cfg`` (``dict(type='DW', kernel_size=7)``, or
            ``dict(type='GF', h=32, w=17)`` for the global-local filter,
            resized to each level), ``with_proj_out`` (True), ``dim_ratio``
            (1). The FPN's ``norm_cfg`` and ``act_cfg`` apply after them.
        **kwargs: mmdet ``FPN`` options: ``start_level``, ``end_level``,
            ``add_extra_convs`` ('on_input' / 'on_lateral' / 'on_output'),
            ``relu_before_extra_convs``, ``no_norm_on_lateral``,
            ``conv_cfg`` (lateral and extra convs), ``norm_cfg``,
            ``act_cfg``, ``upsample_cfg``, ``init_cfg``.

    Example:
        >>> neck = HorFPN([64, 128, 256, 512], 32, num_outs=5)
        >>> feats = [torch.rand(1, c, s, s) for c, s in
        ...          zip([64, 128, 256, 512], [64, 32, 16, 8])]
        >>> [tuple(o.shape[-2:]) for o in neck(feats)]
        [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]
    """

    def __init__(self,
                 in_channels: List[int],
                 out_channels: int,
                 num_outs: int,
                 gnconv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(
            in_channels,
            out_channels,
            num_outs,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            **kwargs)

        def gnconv() -> nn.Module:
            return build_decoder_gnconv(out_channels, out_channels, gnconv_cfg,
                                        norm_cfg, act_cfg)

        num_levels = self.backbone_end_level - self.start_level
        for i in range(len(self.fpn_convs)):
            if i < num_levels:
                self.fpn_convs[i] = gnconv()
            else:  # extra level: strided 3x3 conv, then a gnConv
                self.fpn_convs[i] = nn.Sequential(self.fpn_convs[i], gnconv())

    def forward(self, inputs: Union[list, tuple]) -> tuple:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'HorFPN expects {len(self.in_channels)} input '
                             f'levels, got {len(inputs)}')
        return super().forward(inputs)
