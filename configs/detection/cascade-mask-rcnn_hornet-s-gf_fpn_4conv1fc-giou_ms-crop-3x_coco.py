_base_ = './cascade-mask-rcnn_hornet-s_fpn_4conv1fc-giou_ms-crop-3x_coco.py'
model = dict(
    backbone=dict(
        arch='small-gf',
        init_cfg=dict(checkpoint='checkpoints/hornet-small-gf_in1k.pth')))
