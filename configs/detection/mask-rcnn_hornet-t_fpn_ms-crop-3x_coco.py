# Mask R-CNN, HorNet-T, FPN, 36 epochs with multi-scale + crop augmentation.
_base_ = [
    '../_base_/models/mask-rcnn_hornet-t_fpn.py',
    '../_base_/datasets/coco_instance_ms-crop.py',
    '../_base_/schedules/hornet_det_adamw_3x.py',
    'mmdet::_base_/default_runtime.py',
]
