_base_ = './mask-rcnn_hornet-t_fpn.py'
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.6,
        init_cfg=dict(checkpoint='checkpoints/hornet-small_in1k.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]))
