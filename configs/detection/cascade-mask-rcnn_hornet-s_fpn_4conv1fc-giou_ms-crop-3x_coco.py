# HorNet-S: drop path 0.6, layer-wise decay 0.7.
_base_ = './cascade-mask-rcnn_hornet-t_fpn_4conv1fc-giou_ms-crop-3x_coco.py'
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.6,
        init_cfg=dict(checkpoint='checkpoints/hornet-small_in1k.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]))
