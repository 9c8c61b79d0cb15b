# UperNet, HorNet-B (7x7): stage-wise decay 0.9 over 12 layers, drop path 0.4.
# Published: mIoU 50.0 / 50.5; 121M params, 1174G FLOPs.
_base_ = './hornet-tiny_upernet_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.4,
        init_cfg=dict(checkpoint='checkpoints/hornet-base_in1k.pth')),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
