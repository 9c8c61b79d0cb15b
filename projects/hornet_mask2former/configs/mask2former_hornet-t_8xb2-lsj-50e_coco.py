# Mask2Former, HorNet-T, COCO instance segmentation (80 classes): mmdet's
# Swin-T recipe (the base config) - 8 x 2 images, large-scale jitter at 1024,
# 368750 iterations (50 epochs), AdamW lr 1e-4 / wd 0.05, gradient clipping
# at 0.01, 100 queries - with the HorNet side of the published HorNet-T COCO
# recipe (Cascade Mask R-CNN 3x): drop path 0.4 and layer-wise lr decay 0.7
# over 12 layers, which takes the place of Swin's flat backbone lr multiplier
# 0.1.
# The backbone starts from a converted ImageNet checkpoint:
#   python tools/model_converters/hornet_to_mm.py hornet_tiny_7x7.pth \
#       checkpoints/hornet-tiny_in1k.pth
_base_ = [
    'mmdet::mask2former/mask2former_swin-t-p4-w7-224_8xb2-lsj-50e_coco.py',
    '../../../configs/_base_/models/hornet-t_dense.py',
    './_base_/hornet_layer-decay.py',
]
custom_imports = dict(imports=['hornet_mm'], allow_failed_imports=False)

model = dict(
    backbone=_base_.hornet_backbone,
    panoptic_head=dict(in_channels=[64, 128, 256, 512]))

optim_wrapper = _base_.layer_decay_optim_wrapper
optim_wrapper.paramwise_cfg.update(
    decay_rate=0.7, decay_type='layer_wise', num_layers=12)
del _base_.hornet_backbone, _base_.layer_decay_optim_wrapper
