# HorNet's layer-wise (COCO) or stage-wise (ADE20K) lr decay
# (hornet_mm.HorNetLayerDecayOptimizerConstructor) in place of the Mask2Former
# recipes' flat backbone lr multiplier 0.1; `_delete_` drops the recipe's
# paramwise_cfg. The query and level embeddings go without weight decay, as in
# the libraries' recipes; 1-D parameters (norms, layer scales) and biases also
# go without. A config lists this file next to its recipe, sets the decay and
# removes the helper, which is no setting itself:
#   optim_wrapper = _base_.layer_decay_optim_wrapper
#   optim_wrapper.paramwise_cfg.update(
#       decay_rate=0.7, decay_type='layer_wise', num_layers=12)
#   del _base_.layer_decay_optim_wrapper
layer_decay_optim_wrapper = dict(
    constructor='hornet_mm.HorNetLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(
        _delete_=True,
        custom_keys=dict(
            query_embed=dict(lr_mult=1.0, decay_mult=0.0),
            query_feat=dict(lr_mult=1.0, decay_mult=0.0),
            level_embed=dict(lr_mult=1.0, decay_mult=0.0))))
