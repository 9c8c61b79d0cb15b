# Mask2Former, HorNet-S, COCO instance segmentation; the HorNet side of the
# published Cascade Mask R-CNN 3x recipe: drop path 0.6, layer-wise decay
# 0.7.
_base_ = './mask2former_hornet-t_8xb2-lsj-50e_coco.py'
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.6,
        init_cfg=dict(checkpoint='checkpoints/hornet-small_in1k.pth')),
    panoptic_head=dict(in_channels=[96, 192, 384, 768]))
