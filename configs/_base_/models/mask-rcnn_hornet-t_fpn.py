# Mask R-CNN with a HorNet-T backbone and mmdet's FPN. The backbone starts from
# a converted ImageNet checkpoint:
#   python tools/model_converters/hornet_to_mm.py hornet_tiny_7x7.pth \
#       checkpoints/hornet-tiny_in1k.pth
_base_ = 'mmdet::_base_/models/mask-rcnn_r50_fpn.py'
custom_imports = dict(imports=['hornet_mm'], allow_failed_imports=False)

model = dict(
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
    neck=dict(in_channels=[64, 128, 256, 512]))
