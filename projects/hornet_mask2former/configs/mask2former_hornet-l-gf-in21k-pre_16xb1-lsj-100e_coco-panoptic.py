# Mask2Former, HorNet-L-GF (ImageNet-22k pre-trained), COCO panoptic
# segmentation: the HorNet-L config with filters 24 x 13 and 12 x 7
# (large-gf384); the 224 filters of the checkpoint are resized on load.
_base_ = './mask2former_hornet-l-in21k-pre_16xb1-lsj-100e_coco-panoptic.py'
model = dict(
    backbone=dict(
        arch='large-gf384',
        init_cfg=dict(checkpoint='checkpoints/hornet-large-gf_in22k.pth')))
