"""mmdet's ``SingleRoIExtractor`` with RoIAlign vectorised on the CPU.

Everything is mmdet's (level mapping, ``finest_scale``, ``gc_context``,
``roi_scale_factor``, pre/post modules, state dict); only a
``roi_layer`` of ``type='RoIAlign'`` is built as
:class:`hornet_mm.models.layers.roi_align.RoIAlign`, which computes average
RoIAlign on the CPU with all threads (mmcv's CPU kernel uses one) and calls
mmcv's op on CUDA. The outputs and gradients equal mmcv's to float rounding
(``tests/test_models/test_roi_align.py``), and checkpoints load into either
extractor.

Example config::

    roi_head=dict(
        bbox_roi_extractor=dict(
            type='hornet_mm.SingleRoIExtractor',
            roi_layer=dict(type='RoIAlign', output_size=7,
                           sampling_ratio=0),
            out_channels=256,
            featmap_strides=[4, 8, 16, 32]))
"""
from typing import List

import torch.nn as nn
from mmdet.models.roi_heads.roi_extractors import \
    SingleRoIExtractor as MMDetSingleRoIExtractor

from hornet_mm.registry import MODELS
from ..layers.roi_align import RoIAlign

__all__ = ['SingleRoIExtractor']


@MODELS.register_module()
class SingleRoIExtractor(MMDetSingleRoIExtractor):
    """mmdet's ``SingleRoIExtractor`` (same arguments) whose ``RoIAlign``
    layers are :class:`~hornet_mm.models.layers.roi_align.RoIAlign`."""

    def build_roi_layers(self, layer_cfg: dict,
                         featmap_strides: List[int]) -> nn.ModuleList:
        cfg = dict(layer_cfg)
        if cfg.get('type') == 'RoIAlign':
            cfg['type'] = RoIAlign
        return super().build_roi_layers(cfg, featmap_strides)
