# UperNet with a HorNet-T backbone (mmseg 1.x), as published: UPerHead with
# 512 channels and pool scales (1, 2, 3, 6), dropout 0.1, SyncBN, and an FCN
# auxiliary head on stage 3 (256 channels, loss weight 0.4). The backbone
# (hornet-t_dense.py) starts from a converted ImageNet checkpoint.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    './hornet-t_dense.py',
]
custom_imports = dict(imports=['hornet_mm'], allow_failed_imports=False)

model = dict(
    pretrained=None,
    backbone=_base_.hornet_backbone,
    decode_head=dict(in_channels=[64, 128, 256, 512], num_classes=150),
    auxiliary_head=dict(in_channels=256, num_classes=150))
del _base_.hornet_backbone
