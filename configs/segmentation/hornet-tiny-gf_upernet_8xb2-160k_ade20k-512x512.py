# UperNet, HorNet-T-GF: the published segmentation filters are 24 x 13 and
# 12 x 7 (the 14 x 8 and 7 x 4 filters of the 224 ImageNet checkpoint are
# resized on load, with a warning); gradient clipping at norm 1.
# Published: mIoU 49.2 / 49.3; 55M params, 924G FLOPs.
_base_ = './hornet-tiny_upernet_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        arch='tiny-gf384',
        init_cfg=dict(checkpoint='checkpoints/hornet-tiny-gf_in1k.pth')))
optim_wrapper = dict(clip_grad=dict(max_norm=1, norm_type=2))
