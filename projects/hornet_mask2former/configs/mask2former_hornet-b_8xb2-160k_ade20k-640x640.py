# Mask2Former, HorNet-B, ADE20K semantic segmentation at 640 x 640:
# mmsegmentation's Swin-B recipe (the base config) - 8 x 2 images, 160k
# iterations, poly lr, AdamW lr 1e-4 / wd 0.05, gradient clipping at 0.01,
# 100 queries - with the HorNet side of the published HorNet-B UperNet
# recipe: drop path 0.4 and stage-wise lr decay 0.9 over 12 layers, in place
# of Swin's flat backbone lr multiplier 0.1.
_base_ = 'mmseg::mask2former/mask2former_swin-b-in1k-384x384-pre_8xb2-160k_ade20k-640x640.py'  # noqa
custom_imports = dict(imports=['hornet_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='hornet_mm.HorNet',
        arch='base',
        drop_path_rate=0.4,
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/hornet-base_in1k.pth',
            prefix='backbone.')),
    decode_head=dict(in_channels=[128, 256, 512, 1024]))

# the query and level embeddings without weight decay, as in the library's
# recipe; 1-D parameters (norms, layer scales) and biases also go without
embed_multi = dict(lr_mult=1.0, decay_mult=0.0)
optim_wrapper = dict(
    constructor='hornet_mm.HorNetLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(
        _delete_=True,
        decay_rate=0.9,
        decay_type='stage_wise',
        num_layers=12,
        custom_keys=dict(
            query_embed=embed_multi,
            query_feat=embed_multi,
            level_embed=embed_multi)))
