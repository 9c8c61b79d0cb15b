# UperNet, HorNet-S (7x7): stage-wise decay 0.9 over 12 layers, drop path 0.3.
# Published: mIoU 49.2 / 49.8; 81M params, 1030G FLOPs.
_base_ = './hornet-tiny_upernet_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='checkpoints/hornet-small_in1k.pth')),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
