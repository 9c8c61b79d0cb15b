"""Layer-wise learning-rate decay as in the published HorNet recipes.

Registered as ``hornet_mm.HorNetLayerDecayOptimizerConstructor`` (mmdet and
mmseg already own ``LearningRateDecayOptimizerConstructor``). It asks the
backbone for each parameter's layer id (``get_layer_depth``), so any backbone
that has that method works, and gives a parameter with id ``L`` the lr
``base_lr * decay_rate ** (num_layers + 1 - L)``. One-dimensional parameters
(norms, layer scales) and biases get no weight decay.

Example::

    optim_wrapper = dict(
        constructor='hornet_mm.HorNetLayerDecayOptimizerConstructor',
        paramwise_cfg=dict(decay_rate=0.7, decay_type='layer_wise',
                           num_layers=12),
        optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.05))
"""
import logging
from typing import List

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor

from hornet_mm.registry import OPTIM_WRAPPER_CONSTRUCTORS

__all__ = ['HorNetLayerDecayOptimizerConstructor']


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class HorNetLayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Parameter groups with the published layer-wise / stage-wise decay.

    ``paramwise_cfg`` keys:

    * ``decay_rate`` (float): ``r``; 1 turns the decay off.
    * ``decay_type`` (str): ``'layer_wise'`` or ``'stage_wise'``, see
      :meth:`hornet_mm.models.HorNet.get_layer_depth`.
    * ``num_layers`` (int): ``N`` of the recipe (12 by default).
    * ``custom_keys`` (dict, optional): as in mmengine's constructor,
      ``{substring: dict(lr_mult=..., decay_mult=...)}``; the longest key
      contained in a parameter's name multiplies its lr (on top of the
      decay) and its weight decay. Mask2Former's recipes use it to exempt the
      query and level embeddings from weight decay.

    The published layer-wise ids of the last stages are fixed (11, 12), so a
    recipe with ``N < 11`` (the HorFPN study uses 6) gives those stages a
    scale above 1; that is reproduced, and logged as a warning.
    """

    def add_params(self, params: List[dict], module: nn.Module,
                   **kwargs) -> None:
        model = getattr(module, 'module', module)  # unwrap DDP
        backbone = getattr(model, 'backbone', None)
        if backbone is None or not hasattr(backbone, 'get_layer_depth'):
            raise TypeError(
                'HorNetLayerDecayOptimizerConstructor needs a model whose '
                '`backbone` has get_layer_depth(); got '
                f'{type(backbone).__name__ if backbone is not None else None}')
        cfg = dict(self.paramwise_cfg)
        decay_rate = cfg.pop('decay_rate', 1.0)
        decay_type = cfg.pop('decay_type', 'layer_wise')
        num_layers = cfg.pop('num_layers', 12)
        custom_keys = dict(cfg.pop('custom_keys', None) or {})
        if cfg:
            raise KeyError(f'Unknown paramwise_cfg keys {sorted(cfg)}; '
                           'expected decay_rate, decay_type, num_layers, '
                           'custom_keys')
        for key, mults in custom_keys.items():
            unknown = set(mults) - {'lr_mult', 'decay_mult'}
            if unknown:
                raise KeyError(f'custom_keys[{key!r}] has unknown entries '
                               f'{sorted(unknown)}; expected lr_mult, '
                               'decay_mult')
        # longest first, ties alphabetically (mmengine's order)
        keys = sorted(sorted(custom_keys), key=len, reverse=True)

        groups = {}
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            no_decay = param.ndim == 1 or name.endswith('.bias')
            layer_id, _ = backbone.get_layer_depth(
                name,
                'backbone.',
                decay_type=decay_type,
                num_layers=num_layers)
            custom = next((k for k in keys if k in name), None)
            key = (layer_id, no_decay, custom or '')
            if key not in groups:
                mults = custom_keys.get(custom, {})
                scale = decay_rate**(num_layers + 1 - layer_id) * \
                    mults.get('lr_mult', 1.0)
                weight_decay = 0.0 if no_decay else \
                    self.base_wd * mults.get('decay_mult', 1.0)
                groups[key] = dict(
                    params=[],
                    param_names=[],
                    lr=self.base_lr * scale,
                    lr_scale=scale,
                    layer_id=layer_id,
                    weight_decay=weight_decay)
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)

        above = sorted(
            {g['layer_id']
             for g in groups.values() if g['lr_scale'] > 1})
        if above:
            print_log(
                f'Layer-wise lr decay with num_layers={num_layers} gives '
                f'layer ids {above} an lr scale above 1 (the published '
                'layer ids are fixed; this reproduces the published recipe)',
                logger='current',
                level=logging.WARNING)
        params.extend(groups[k] for k in sorted(groups))
