_base_ = './mask-rcnn_hornet-s_fpn.py'
model = dict(
    backbone=dict(
        arch='small-gf',
        init_cfg=dict(checkpoint='checkpoints/hornet-small-gf_in1k.pth')))
