# Mask2Former, HorNet-B-GF, COCO instance segmentation; the HorNet side of
# the published Cascade Mask R-CNN 3x recipe: drop path 0.7, layer-wise decay
# 0.8.
_base_ = './mask2former_hornet-t_8xb2-lsj-50e_coco.py'
model = dict(
    backbone=dict(
        arch='base-gf',
        drop_path_rate=0.7,
        init_cfg=dict(checkpoint='checkpoints/hornet-base-gf_in1k.pth')),
    panoptic_head=dict(in_channels=[128, 256, 512, 1024]))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.8))
