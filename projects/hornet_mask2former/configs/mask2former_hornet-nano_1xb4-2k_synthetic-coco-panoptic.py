# Mask2Former with a small HorNet, trained from scratch on the generated
# COCO-panoptic-format set (things: 4 kinds of drawn shapes; stuff: sky and
# ground):
#   python tools/misc/make_synthetic_data.py coco-panoptic data/synthetic_coco_panoptic  # noqa
#   python tools/train.py projects/hornet_mask2former/configs/mask2former_hornet-nano_1xb4-2k_synthetic-coco-panoptic.py  # noqa
# The HorNet-T recipe scaled down: large-scale jitter at 256 instead of 1024,
# a 64-channel head with 20 queries, 2 pixel-decoder and 3 transformer-decoder
# layers, fewer sampled points; one process, 4 images per batch.
_base_ = './mask2former_hornet-t_8xb2-lsj-50e_coco-panoptic.py'

thing_classes = ('circle', 'rectangle', 'triangle', 'cross')
stuff_classes = ('sky', 'ground')
num_things_classes = len(thing_classes)
num_stuff_classes = len(stuff_classes)
num_classes = num_things_classes + num_stuff_classes
image_size = (256, 256)
channels = 64
attn = dict(embed_dims=channels, num_heads=4)
ffn = dict(embed_dims=channels, feedforward_channels=4 * channels)
model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(
            type='BatchFixedSizePad',
            size=image_size,
            img_pad_value=0,
            pad_mask=True,
            mask_pad_value=0,
            pad_seg=True,
            seg_pad_value=255)
    ]),
    backbone=dict(
        arch=dict(
            _delete_=True,
            base_dim=32,
            depths=[1, 1, 3, 1],
            orders=[2, 3, 4, 5],
            dw_cfg=[
                dict(type='DW', kernel_size=7),
                dict(type='DW', kernel_size=7),
                # sized for 256 / 16 = 16 rows (rfft 16 x 9) and 8 (8 x 5)
                dict(type='GF', h=16, w=9),
                dict(type='GF', h=8, w=5),
            ]),
        drop_path_rate=0.05,
        init_cfg=None),
    panoptic_head=dict(
        in_channels=[32, 64, 128, 256],
        feat_channels=channels,
        out_channels=channels,
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
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
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes),
    train_cfg=dict(num_points=64 * 64),
    # a query's class score must exceed this to enter the panoptic map; the
    # recipe's 0.8 keeps few things of a small model trained for minutes
    # (seed 0, 2000 iterations: PQ 34.7, things 2.5 at 0.8; 44.3 / 17.0 at
    # 0.5; the instance results do not depend on it)
    test_cfg=dict(max_per_image=50, object_mask_thr=0.5))

data_root = 'data/synthetic_coco_panoptic/'
metainfo = dict(
    classes=thing_classes + stuff_classes,
    thing_classes=thing_classes,
    stuff_classes=stuff_classes)
train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    dict(
        type='LoadPanopticAnnotations',
        with_bbox=True,
        with_mask=True,
        with_seg=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomResize',
        scale=image_size,
        ratio_range=(0.5, 1.5),
        keep_ratio=True),
    dict(
        type='RandomCrop',
        crop_size=image_size,
        crop_type='absolute',
        recompute_bbox=True,
        allow_negative_crop=True),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='Resize', scale=(384, 256), keep_ratio=True),
    dict(type='LoadPanopticAnnotations'),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(
        data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(
        data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(
        type='CocoPanopticMetric',
        ann_file=data_root + 'annotations/panoptic_val2017.json',
        seg_prefix=data_root + 'annotations/panoptic_val2017/'),
    dict(
        type='CocoMetric',
        ann_file=data_root + 'annotations/instances_val2017.json',
        metric=['bbox', 'segm'])
]
test_evaluator = val_evaluator

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
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[int(max_iters * 0.8)],
        gamma=0.1)
]
train_cfg = dict(
    max_iters=max_iters, val_interval=max_iters, dynamic_intervals=None)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
log_processor = dict(window_size=20)
auto_scale_lr = dict(enable=False, base_batch_size=4)
randomness = dict(seed=0)
