# Mask2Former, HorNet-L (ImageNet-22k pre-trained), ADE20K at 640 x 640:
# mmsegmentation's Swin-L recipe (the Swin-B one with the 22k checkpoint)
# with the HorNet side of the published HorNet-L UperNet recipe: drop path
# 0.4, stage-wise decay 0.8 over 12 layers.
_base_ = './mask2former_hornet-b_8xb2-160k_ade20k-640x640.py'
model = dict(
    backbone=dict(
        arch='large',
        init_cfg=dict(checkpoint='checkpoints/hornet-large_in22k.pth')),
    decode_head=dict(in_channels=[192, 384, 768, 1536]))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.8))
