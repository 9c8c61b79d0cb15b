# gnConv UPerNet head study on HorNet-S (7x7), as published: the head's final
# 3x3 fpn_bottleneck conv becomes an order-2 gnConv module with a 7x7
# depthwise mixer and proj_out; the rest is the HorNet-S UperNet recipe.
_base_ = './hornet-small_upernet_8xb2-160k_ade20k-512x512.py'
model = dict(
    decode_head=dict(
        type='hornet_mm.GNUPerHead',
        gnconv_cfg=dict(mixer_cfg=dict(type='DW', kernel_size=7))))
