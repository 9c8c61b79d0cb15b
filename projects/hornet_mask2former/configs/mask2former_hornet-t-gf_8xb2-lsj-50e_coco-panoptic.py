# Mask2Former, HorNet-T-GF, COCO panoptic segmentation; the HorNet side of
# the published Cascade Mask R-CNN 3x recipe: layer-wise decay 0.7.
_base_ = './mask2former_hornet-t_8xb2-lsj-50e_coco-panoptic.py'
model = dict(
    backbone=dict(
        arch='tiny-gf',
        init_cfg=dict(checkpoint='checkpoints/hornet-tiny-gf_in1k.pth')))
