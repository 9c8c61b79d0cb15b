# Mask2Former with a small HorNet, trained from scratch on the generated
# ADE20K-format set (sky, ground and 4 kinds of drawn shapes; 0 = "other"):
#   python tools/misc/make_synthetic_data.py ade data/synthetic_ade
#   python tools/train.py projects/hornet_mask2former/configs/mask2former_hornet-nano_1xb8-2k_synthetic-ade-128x128.py  # noqa
# The HorNet-T recipe scaled down: 128 x 128 crops, a 64-channel head with 20
# queries, 2 pixel-decoder and 3 transformer-decoder layers, fewer sampled
# points; the data settings of the small UperNet config of the same set.
_base_ = './mask2former_hornet-t_8xb2-160k_ade20k-512x512.py'

crop_size = (128, 128)
classes = ('sky', 'ground', 'circle', 'rectangle', 'triangle', 'cross')
palette = [(70, 130, 180), (152, 251, 152), (220, 20, 60), (255, 215, 0),
           (0, 0, 230), (255, 0, 255)]
num_classes = len(classes)
channels = 64
attn = dict(embed_dims=channels, num_heads=4)
ffn = dict(embed_dims=channels, feedforward_channels=4 * channels)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch=dict(
            _delete_=True,
            base_dim=32,
            depths=[1, 1, 3, 1],
            orders=[2, 3, 4, 5],
            dw_cfg=[
                dict(type='DW', kernel_size=7),
                dict(type='DW', kernel_size=7),
                # sized for 128 / 16 = 8 rows (rfft 8 x 5) and 4 (4 x 3)
                dict(type='GF', h=8, w=5),
                dict(type='GF', h=4, w=3),
            ]),
        drop_path_rate=0.05,
        init_cfg=None),
    decode_head=dict(
        in_channels=[32, 64, 128, 256],
        feat_channels=channels,
        out_channels=channels,
        num_classes=num_classes,
        num_queries=20,
        pixel_decoder=dict(
            norm_cfg=dict(type='GN', num_groups=16),
            encoder=dict(
                num_layers=2, layer_cfg=dict(self_attn_cfg=attn, ffn_cfg=ffn)),
            positional_encoding=dict(num_feats=channels // 2)),
        positional_encoding=dict(num_feats=channels // 2),
        transformer_decoder=dict(
            num_layers=3,
            layer_cfg=dict(
                self_attn_cfg=attn, cross_attn_cfg=attn, ffn_cfg=ffn)),
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1]),
        train_cfg=dict(num_points=32 * 32)))

data_root = 'data/synthetic_ade/'
metainfo = dict(classes=classes, palette=palette)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='hornet_mm.LoadSegAnnotations'),
    dict(
        type='RandomResize',
        scale=(256, 256),
        ratio_range=(0.75, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='hornet_mm.LoadSegAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(
        type='hornet_mm.ADE20KStyleDataset',
        data_root=data_root,
        metainfo=metainfo,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    dataset=dict(
        type='hornet_mm.ADE20KStyleDataset',
        data_root=data_root,
        metainfo=metainfo,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# a higher lr than the recipe's 1e-4 and no layer decay: no pre-trained
# backbone, few steps
max_iters = 2000
optim_wrapper = dict(
    optimizer=dict(lr=5e-4),
    paramwise_cfg=dict(decay_rate=1.0),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(
        type='PolyLR',
        eta_min=0,
        power=0.9,
        begin=100,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1, save_best=None))
auto_scale_lr = dict(enable=False, base_batch_size=8)
randomness = dict(seed=0)
