# HorNet-B: drop path 0.7, layer-wise decay 0.8.
_base_ = './cascade-mask-rcnn_hornet-t_fpn_4conv1fc-giou_ms-crop-3x_coco.py'
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.7,
        init_cfg=dict(checkpoint='checkpoints/hornet-base_in1k.pth')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.8))
