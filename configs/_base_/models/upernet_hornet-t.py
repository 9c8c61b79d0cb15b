# UperNet with a HorNet-T backbone (mmseg 1.x), as published: UPerHead with
# 512 channels and pool scales (1, 2, 3, 6), dropout 0.1, SyncBN, and an FCN
# auxiliary head on stage 3 (256 channels, loss weight 0.4). The backbone
# starts from a converted ImageNet checkpoint:
#   python tools/model_converters/hornet_to_mm.py hornet_tiny_7x7.pth \
#       checkpoints/hornet-tiny_in1k.pth
_base_ = 'mmseg::_base_/models/upernet_r50.py'
custom_imports = dict(imports=['hornet_mm'], allow_failed_imports=False)

model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='hornet_mm.HorNet',
        arch='tiny',
        drop_path_rate=0.4,
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/hornet-tiny_in1k.pth',
            prefix='backbone.')),
    decode_head=dict(in_channels=[64, 128, 256, 512], num_classes=150),
    auxiliary_head=dict(in_channels=256, num_classes=150))
