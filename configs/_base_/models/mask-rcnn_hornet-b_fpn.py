_base_ = './mask-rcnn_hornet-t_fpn.py'
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.7,
        init_cfg=dict(checkpoint='checkpoints/hornet-base_in1k.pth')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
