# Mask2Former, HorNet-T, ADE20K semantic segmentation at 512 x 512:
# mmsegmentation's Mask2Former recipe at 512 (it ships Swin recipes only for
# B and L, at 640; its R-50 one is the 512 recipe) - 8 x 2 images, 160k
# iterations, poly lr (power 0.9), AdamW lr 1e-4 / wd 0.05, gradient clipping
# at 0.01, 100 queries - with the HorNet side of the published HorNet-T
# UperNet recipe: drop path 0.4 and stage-wise lr decay 0.9 over 6 layers, in
# place of the flat backbone lr multiplier 0.1.
_base_ = 'mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['hornet_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='hornet_mm.HorNet',
        arch='tiny',
        drop_path_rate=0.4,
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/hornet-tiny_in1k.pth',
            prefix='backbone.')),
    decode_head=dict(in_channels=[64, 128, 256, 512]))

# the query and level embeddings without weight decay, as in the library's
# recipe; 1-D parameters (norms, layer scales) and biases also go without
embed_multi = dict(lr_mult=1.0, decay_mult=0.0)
optim_wrapper = dict(
    constructor='hornet_mm.HorNetLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(
        _delete_=True,
        decay_rate=0.9,
        decay_type='stage_wise',
        num_layers=6,
        custom_keys=dict(
            query_embed=embed_multi,
            query_feat=embed_multi,
            level_embed=embed_multi)))
