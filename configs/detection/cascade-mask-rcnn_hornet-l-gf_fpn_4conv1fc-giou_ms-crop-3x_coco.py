# HorNet-L-GF (ImageNet-22k pre-trained) with the filter sizes of the published
# detection configs, 24 x 13 and 12 x 7 (the 224 filters of the checkpoint are
# resized on load).
_base_ = './cascade-mask-rcnn_hornet-l_fpn_4conv1fc-giou_ms-crop-3x_coco.py'
model = dict(
    backbone=dict(
        arch='large-gf384',
        init_cfg=dict(checkpoint='checkpoints/hornet-large-gf_in22k.pth')))
