# Cascade Mask R-CNN, HorNet-T, 3x with multi-scale + crop augmentation, as
# published: AdamW lr 2e-4, weight decay 0.05, layer-wise decay 0.7 over 12
# layers, drop path 0.4; batch 16 (8 GPUs x 2).
_base_ = [
    '../_base_/models/cascade-mask-rcnn_hornet-t_fpn_4conv1fc-giou.py',
    '../_base_/datasets/coco_instance_ms-crop.py',
    '../_base_/schedules/hornet_det_adamw_3x.py',
    'mmdet::_base_/default_runtime.py',
]
optim_wrapper = dict(
    paramwise_cfg=dict(decay_rate=0.7, num_layers=12), optimizer=dict(lr=2e-4))
