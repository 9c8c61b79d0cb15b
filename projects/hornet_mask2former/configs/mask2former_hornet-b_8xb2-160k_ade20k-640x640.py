# Mask2Former, HorNet-B, ADE20K semantic segmentation at 640 x 640:
# mmsegmentation's Swin-B recipe (the base config) - 8 x 2 images, 160k
# iterations, poly lr, AdamW lr 1e-4 / wd 0.05, gradient clipping at 0.01,
# 100 queries - with the HorNet side of the published HorNet-B UperNet
# recipe: drop path 0.4 and stage-wise lr decay 0.9 over 12 layers, in place
# of Swin's flat backbone lr multiplier 0.1.
_base_ = [
    'mmseg::mask2former/mask2former_swin-b-in1k-384x384-pre_8xb2-160k_ade20k-640x640.py',  # noqa
    '../../../configs/_base_/models/hornet-t_dense.py',
    './_base_/hornet_layer-decay.py',
]
custom_imports = dict(imports=['hornet_mm'], allow_failed_imports=False)

model = dict(
    backbone=_base_.hornet_backbone,
    decode_head=dict(in_channels=[128, 256, 512, 1024]))
model['backbone'].update(
    arch='base', init_cfg=dict(checkpoint='checkpoints/hornet-base_in1k.pth'))

# an image that cannot be decoded during evaluation is an error, not skipped
val_dataloader = dict(dataset=dict(test_mode=True))
test_dataloader = val_dataloader

optim_wrapper = _base_.layer_decay_optim_wrapper
optim_wrapper.paramwise_cfg.update(
    decay_rate=0.9, decay_type='stage_wise', num_layers=12)
del _base_.hornet_backbone, _base_.layer_decay_optim_wrapper
