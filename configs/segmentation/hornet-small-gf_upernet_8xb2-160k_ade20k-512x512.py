# UperNet, HorNet-S-GF (filters 24 x 13 and 12 x 7), gradient clipping at 1.
# Published: mIoU 50.0 / 50.5; 85M params, 1027G FLOPs.
_base_ = './hornet-small_upernet_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        arch='small-gf384',
        init_cfg=dict(checkpoint='checkpoints/hornet-small-gf_in1k.pth')))
optim_wrapper = dict(clip_grad=dict(max_norm=1, norm_type=2))
