# Mask2Former, HorNet-B-GF, ADE20K at 640 x 640: filters 24 x 13 and 12 x 7
# (base-gf384) and drop path 0.5, as in the published HorNet-B-GF UperNet
# recipe.
_base_ = './mask2former_hornet-b_8xb2-160k_ade20k-640x640.py'
model = dict(
    backbone=dict(
        arch='base-gf384',
        drop_path_rate=0.5,
        init_cfg=dict(checkpoint='checkpoints/hornet-base-gf_in1k.pth')))
