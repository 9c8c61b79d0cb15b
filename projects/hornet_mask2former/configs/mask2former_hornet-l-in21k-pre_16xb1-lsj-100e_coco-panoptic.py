# Mask2Former, HorNet-L (ImageNet-22k pre-trained), COCO panoptic
# segmentation: mmdet's Swin-L recipe (the base config) - 16 x 1 images,
# large-scale jitter at 1024, 737500 iterations (100 epochs), 200 queries,
# AdamW lr 1e-4 / wd 0.05, gradient clipping at 0.01 - with the HorNet side
# of the published HorNet-L COCO recipe (Cascade Mask R-CNN 3x): drop path
# 0.7 and layer-wise lr decay 0.7 over 12 layers in place of Swin's flat
# backbone lr multiplier 0.1.
_base_ = [
    'mmdet::mask2former/mask2former_swin-l-p4-w12-384-in21k_16xb1-lsj-100e_coco-panoptic.py',  # noqa
    '../../../configs/_base_/models/hornet-t_dense.py',
    './_base_/hornet_layer-decay.py',
]
custom_imports = dict(
    imports=['hornet_mm', 'projects.hornet_mask2former.hornet_mask2former'],
    allow_failed_imports=False)

model = dict(
    backbone=_base_.hornet_backbone,
    panoptic_head=dict(in_channels=[192, 384, 768, 1536]))
model['backbone'].update(
    arch='large',
    drop_path_rate=0.7,
    init_cfg=dict(checkpoint='checkpoints/hornet-large_in22k.pth'))

optim_wrapper = _base_.layer_decay_optim_wrapper
optim_wrapper.paramwise_cfg.update(
    decay_rate=0.7, decay_type='layer_wise', num_layers=12)
del _base_.hornet_backbone, _base_.layer_decay_optim_wrapper
