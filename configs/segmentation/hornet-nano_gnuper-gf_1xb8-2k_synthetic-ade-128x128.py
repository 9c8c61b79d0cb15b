# The small-HorNet UperNet of hornet-nano_upernet_1xb8-2k_synthetic-ade-128x128
# with the gnConv UPerNet head (global-local filter mixer, resized to the
# 32 x 32 fused map of a 128 crop).
_base_ = './hornet-nano_upernet_1xb8-2k_synthetic-ade-128x128.py'
model = dict(
    decode_head=dict(
        type='hornet_mm.GNUPerHead',
        gnconv_cfg=dict(mixer_cfg=dict(type='GF', h=32, w=17))))
