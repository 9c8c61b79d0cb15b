# Mask2Former, HorNet-L-GF, COCO instance segmentation; the HorNet side of
# the published Cascade Mask R-CNN 3x recipe: drop path 0.7, layer-wise decay
# 0.7. Filters 24 x 13 and 12 x 7 (large-gf384); the 224 filters of the
# checkpoint are resized on load. ImageNet-22k pre-trained.
_base_ = './mask2former_hornet-t_8xb2-lsj-50e_coco.py'
model = dict(
    backbone=dict(
        arch='large-gf384',
        drop_path_rate=0.7,
        init_cfg=dict(checkpoint='checkpoints/hornet-large-gf_in22k.pth')),
    panoptic_head=dict(in_channels=[192, 384, 768, 1536]))
