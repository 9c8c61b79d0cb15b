_base_ = './cascade-mask-rcnn_hornet-t_fpn_4conv1fc-giou_ms-crop-3x_coco.py'
model = dict(
    backbone=dict(
        arch='tiny-gf',
        init_cfg=dict(checkpoint='checkpoints/hornet-tiny-gf_in1k.pth')))
