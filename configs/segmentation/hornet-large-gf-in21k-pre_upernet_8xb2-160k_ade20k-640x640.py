# UperNet, HorNet-L-GF (ImageNet-22k pre-trained; filters 24 x 13 and 12 x 7,
# the large-gf384 arch), gradient clipping at 0.1.
# Published: mIoU 55.0 / 55.2; 239M params, 2465G FLOPs.
_base_ = './hornet-large-in21k-pre_upernet_8xb2-160k_ade20k-640x640.py'
model = dict(
    backbone=dict(
        arch='large-gf384',
        init_cfg=dict(checkpoint='checkpoints/hornet-large-gf_in22k.pth')))
optim_wrapper = dict(clip_grad=dict(max_norm=0.1, norm_type=2))
