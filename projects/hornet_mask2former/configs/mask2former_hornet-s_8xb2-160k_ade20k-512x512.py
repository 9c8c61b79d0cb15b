# Mask2Former, HorNet-S, ADE20K at 512 x 512; the HorNet side of the
# published HorNet-S UperNet recipe: drop path 0.3, stage-wise decay 0.9 over
# 12 layers.
_base_ = './mask2former_hornet-t_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint='checkpoints/hornet-small_in1k.pth')),
    decode_head=dict(in_channels=[96, 192, 384, 768]))
optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
