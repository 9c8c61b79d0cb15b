# HorNet-T as the backbone of a detector or segmentor: all four stages out as
# normalised (B, C, H, W) maps (no pooling before the final norms), weights
# from a converted ImageNet checkpoint:
#   python tools/model_converters/hornet_to_mm.py hornet_tiny_7x7.pth \
#       checkpoints/hornet-tiny_in1k.pth
# A config lists this file next to the library's model (or recipe) base and
# takes the dict as its backbone (`_delete_` drops the library's ResNet or Swin
# settings); other sizes update arch, drop_path_rate and init_cfg.checkpoint.
# The helper itself is no setting, so the config removes it:
#   model = dict(backbone=_base_.hornet_backbone, ...)
#   del _base_.hornet_backbone
hornet_backbone = dict(
    _delete_=True,
    type='hornet_mm.HorNet',
    arch='tiny',
    drop_path_rate=0.4,
    out_indices=(0, 1, 2, 3),
    gap_before_final_norm=False,
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/hornet-tiny_in1k.pth',
        prefix='backbone.'))
