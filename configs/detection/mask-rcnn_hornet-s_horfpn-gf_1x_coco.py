# Decoder study, HorNet-S 1x: HorFPN with the global-local filter mixer
# (filter 32 x 17, resized to every level).
_base_ = './mask-rcnn_hornet-s_fpn_1x_coco.py'
model = dict(
    neck=dict(
        type='hornet_mm.HorFPN',
        gnconv_cfg=dict(mixer_cfg=dict(type='GF', h=32, w=17))))
