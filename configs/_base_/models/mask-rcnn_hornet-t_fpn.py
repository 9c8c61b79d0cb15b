# Mask R-CNN with a HorNet-T backbone and mmdet's FPN. The backbone
# (hornet-t_dense.py) starts from a converted ImageNet checkpoint.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    './hornet-t_dense.py',
]
custom_imports = dict(imports=['hornet_mm'], allow_failed_imports=False)

model = dict(
    backbone=_base_.hornet_backbone,
    neck=dict(in_channels=[64, 128, 256, 512]))
del _base_.hornet_backbone
