_base_ = './cascade-mask-rcnn_hornet-b_fpn_4conv1fc-giou_ms-crop-3x_coco.py'
model = dict(
    backbone=dict(
        arch='base-gf',
        init_cfg=dict(checkpoint='checkpoints/hornet-base-gf_in1k.pth')))
