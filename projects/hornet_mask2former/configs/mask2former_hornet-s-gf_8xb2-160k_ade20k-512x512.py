# Mask2Former, HorNet-S-GF, ADE20K at 512 x 512: filters 24 x 13 and 12 x 7
# as in the published segmentation configs.
_base_ = './mask2former_hornet-s_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            base_dim=96,
            depths=[2, 3, 18, 2],
            orders=[2, 3, 4, 5],
            dw_cfg=[
                dict(type='DW', kernel_size=7),
                dict(type='DW', kernel_size=7),
                dict(type='GF', h=24, w=13),
                dict(type='GF', h=12, w=7),
            ]),
        init_cfg=dict(checkpoint='checkpoints/hornet-small-gf_in1k.pth')))
