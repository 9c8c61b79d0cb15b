_base_ = './mask-rcnn_hornet-b_fpn.py'
model = dict(
    backbone=dict(
        arch='base-gf',
        init_cfg=dict(checkpoint='checkpoints/hornet-base-gf_in1k.pth')))
