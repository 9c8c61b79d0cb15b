# gnConv UPerNet head study on HorNet-S (7x7) with the global-local filter
# mixer in the head's gnConv (filter 32 x 17, resized to the feature map),
# gradient clipping at 0.1, as published.
_base_ = './hornet-small_upernet_8xb2-160k_ade20k-512x512.py'
model = dict(
    decode_head=dict(
        type='hornet_mm.GNUPerHead',
        gnconv_cfg=dict(mixer_cfg=dict(type='GF', h=32, w=17))))
optim_wrapper = dict(clip_grad=dict(max_norm=0.1, norm_type=2))
