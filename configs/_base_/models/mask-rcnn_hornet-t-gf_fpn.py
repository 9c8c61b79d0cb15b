_base_ = './mask-rcnn_hornet-t_fpn.py'
model = dict(
    backbone=dict(
        arch='tiny-gf',
        init_cfg=dict(checkpoint='checkpoints/hornet-tiny-gf_in1k.pth')))
