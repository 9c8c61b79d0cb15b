# Mask2Former, HorNet-T-GF, ADE20K at 512 x 512: the filters of the published
# segmentation configs, 24 x 13 and 12 x 7 (the 224 checkpoint's are resized
# on load).
_base_ = './mask2former_hornet-t_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            base_dim=64,
            depths=[2, 3, 18, 2],
            orders=[2, 3, 4, 5],
            dw_cfg=[
                dict(type='DW', kernel_size=7),
                dict(type='DW', kernel_size=7),
                dict(type='GF', h=24, w=13),
                dict(type='GF', h=12, w=7),
            ]),
        init_cfg=dict(checkpoint='checkpoints/hornet-tiny-gf_in1k.pth')))
