# HorNet-L (ImageNet-22k pre-trained): lr 1e-4, drop path 0.7, layer-wise
# decay 0.7.
_base_ = './cascade-mask-rcnn_hornet-t_fpn_4conv1fc-giou_ms-crop-3x_coco.py'
model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.7,
        init_cfg=dict(checkpoint='checkpoints/hornet-large_in22k.pth')),
    neck=dict(in_channels=[192, 384, 768, 1536]))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
