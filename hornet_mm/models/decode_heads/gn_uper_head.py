"""GNUPerHead: UPerNet whose final fusion conv is a gnConv module (mmseg).

The gnConv UPerNet head of the HorNet paper's decoder study: mmseg's
``UPerHead`` with its last 3x3 convolution (``fpn_bottleneck``, which fuses
the concatenated pyramid levels) replaced by an order-2 gnConv in the decoder
form (1x1 projection in, a 7x7 depthwise or global-local filter mixer, 1x1
projection out, then the head's norm and activation). Everything else (PPM,
laterals, top-down path, dropout, classifier, losses) is mmseg's UPerHead.
"""
from typing import Optional

from mmseg.models.decode_heads import UPerHead

from hornet_mm.registry import MODELS
from ..layers import build_decoder_gnconv

__all__ = ['GNUPerHead']


@MODELS.register_module()
class GNUPerHead(UPerHead):
    """UPerHead with an order-2 gnConv ``fpn_bottleneck``.

    Args:
        gnconv_cfg: Options of the gnConv (see
            :class:`~hornet_mm.models.layers.GnConv`): ``order`` (2),
            ``mixer_cfg`` (``dict(type='DW', kernel_size=7)``, or
            ``dict(type='GF', h=32, w=17)`` for the global-local filter),
            ``with_proj_out`` (True), ``dim_ratio`` (1).
        **kwargs: mmseg ``UPerHead`` / ``BaseDecodeHead`` options:
            ``in_channels``, ``in_index``, ``channels``, ``pool_scales``,
            ``dropout_ratio``, ``num_classes``, ``norm_cfg``, ``act_cfg``,
            ``align_corners``, ``loss_decode``, ...
    """

    def __init__(self, gnconv_cfg: Optional[dict] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fpn_bottleneck = build_decoder_gnconv(
            len(self.in_channels) * self.channels, self.channels, gnconv_cfg,
            self.norm_cfg, self.act_cfg)
