# UperNet, HorNet-B-GF (filters 24 x 13 and 12 x 7, i.e. the base-gf384
# arch): drop path 0.5, gradient clipping at 1.
# Published: mIoU 50.5 / 50.9; 126M params, 1171G FLOPs.
_base_ = './hornet-base_upernet_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        arch='base-gf384',
        drop_path_rate=0.5,
        init_cfg=dict(checkpoint='checkpoints/hornet-base-gf_in1k.pth')))
optim_wrapper = dict(clip_grad=dict(max_norm=1, norm_type=2))
