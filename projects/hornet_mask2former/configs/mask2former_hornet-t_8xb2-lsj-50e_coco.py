# Mask2Former, HorNet-T, COCO instance segmentation (80 classes): mmdet's
# Swin-T recipe (the base config) - 8 x 2 images, large-scale jitter at 1024,
# 368750 iterations (50 epochs), AdamW lr 1e-4 / wd 0.05, gradient clipping
# at 0.01, 100 queries - with the HorNet side of the published HorNet-T COCO
# recipe (Cascade Mask R-CNN 3x): drop path 0.4 and layer-wise lr decay 0.7
# over 12 layers, which takes the place of Swin's flat backbone lr multiplier
# 0.1.
# The backbone starts from a converted ImageNet checkpoint:
#   python tools/model_converters/hornet_to_mm.py hornet_tiny_7x7.pth \
#       checkpoints/hornet-tiny_in1k.pth
_base_ = 'mmdet::mask2former/mask2former_swin-t-p4-w7-224_8xb2-lsj-50e_coco.py'  # noqa
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
    panoptic_head=dict(in_channels=[64, 128, 256, 512]))

# the query and level embeddings without weight decay, as in the library's
# recipe; 1-D parameters (norms, layer scales) and biases also go without
embed_multi = dict(lr_mult=1.0, decay_mult=0.0)
optim_wrapper = dict(
    constructor='hornet_mm.HorNetLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(
        _delete_=True,
        decay_rate=0.7,
        decay_type='layer_wise',
        num_layers=12,
        custom_keys=dict(
            query_embed=embed_multi,
            query_feat=embed_multi,
            level_embed=embed_multi)))
