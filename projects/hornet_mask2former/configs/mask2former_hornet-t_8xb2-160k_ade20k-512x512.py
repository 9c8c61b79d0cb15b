# Mask2Former, HorNet-T, ADE20K semantic segmentation at 512 x 512:
# mmsegmentation's Mask2Former recipe at 512 (it ships Swin recipes only for
# B and L, at 640; its R-50 one is the 512 recipe) - 8 x 2 images, 160k
# iterations, poly lr (power 0.9), AdamW lr 1e-4 / wd 0.05, gradient clipping
# at 0.01, 100 queries - with the HorNet side of the published HorNet-T
# UperNet recipe: drop path 0.4 and stage-wise lr decay 0.9 over 6 layers, in
# place of the flat backbone lr multiplier 0.1.
_base_ = [
    'mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py',
    '../../../configs/_base_/models/hornet-t_dense.py',
    './_base_/hornet_layer-decay.py',
]
custom_imports = dict(imports=['hornet_mm'], allow_failed_imports=False)

model = dict(
    backbone=_base_.hornet_backbone,
    decode_head=dict(in_channels=[64, 128, 256, 512]))

# an image that cannot be decoded during evaluation is an error, not skipped
val_dataloader = dict(dataset=dict(test_mode=True))
test_dataloader = val_dataloader

optim_wrapper = _base_.layer_decay_optim_wrapper
optim_wrapper.paramwise_cfg.update(
    decay_rate=0.9, decay_type='stage_wise', num_layers=6)
del _base_.hornet_backbone, _base_.layer_decay_optim_wrapper
