# Mask R-CNN, HorNet-S-GF, FPN, 12 epochs on COCO: AdamW lr 1e-4, layer-wise
# decay 0.95 over 6 layers (the published decoder-study recipe).
_base_ = [
    '../_base_/models/mask-rcnn_hornet-s-gf_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    '../_base_/schedules/hornet_det_adamw_1x.py',
    'mmdet::_base_/default_runtime.py',
]
