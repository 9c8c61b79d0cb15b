# Decoder study, HorNet-S 1x: the FPN's 3x3 output convs become order-2 gnConv
# modules with a 7x7 depthwise mixer and proj_out.
_base_ = './mask-rcnn_hornet-s_fpn_1x_coco.py'
model = dict(neck=dict(type='hornet_mm.HorFPN'))
