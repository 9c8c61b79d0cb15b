# Mask2Former, HorNet-L-GF (ImageNet-22k pre-trained), ADE20K at 640 x 640:
# filters 24 x 13 and 12 x 7 (large-gf384).
_base_ = './mask2former_hornet-l-in21k-pre_8xb2-160k_ade20k-640x640.py'
model = dict(
    backbone=dict(
        arch='large-gf384',
        init_cfg=dict(checkpoint='checkpoints/hornet-large-gf_in22k.pth')))
