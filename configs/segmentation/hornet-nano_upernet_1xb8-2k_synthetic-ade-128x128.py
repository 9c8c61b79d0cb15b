# A small-HorNet UperNet trained from scratch on the generated ADE20K-format
# set (sky, ground and 4 kinds of shapes; label 0 = "other", ignored):
#   python tools/misc/make_synthetic_data.py ade data/synthetic_ade
#   python tools/train.py \
#       configs/segmentation/hornet-nano_upernet_1xb8-2k_synthetic-ade-128x128.py
# One process, 8 crops of 128 x 128 per batch; sliding-window test with 128
# crops at stride 85 (the 512 / 341 of the ADE20K recipes, scaled).
_base_ = [
    '../_base_/models/upernet_hornet-t.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
crop_size = (128, 128)
classes = ('sky', 'ground', 'circle', 'rectangle', 'triangle', 'cross')
palette = [(70, 130, 180), (152, 251, 152), (220, 20, 60), (255, 215, 0),
           (0, 0, 230), (255, 0, 255)]
norm_cfg = dict(type='BN', requires_grad=True)
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
        channels=96,
        num_classes=len(classes),
        norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=128,
        channels=48,
        num_classes=len(classes),
        norm_cfg=norm_cfg),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(85, 85)))

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
img_ratios = [0.75, 1.0, 1.25]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='Resize', scale_factor=r, keep_ratio=True)
                for r in img_ratios
            ],
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ],
            [dict(type='hornet_mm.LoadSegAnnotations')],
            [dict(type='PackSegInputs')],
        ])
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='hornet_mm.ADE20KStyleDataset',
        data_root=data_root,
        metainfo=metainfo,
        data_prefix=dict(
            img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='hornet_mm.ADE20KStyleDataset',
        data_root=data_root,
        metainfo=metainfo,
        data_prefix=dict(
            img_path='images/validation',
            seg_map_path='annotations/validation'),
        pipeline=test_pipeline,
        test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

max_iters = 2000
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin=0,
        end=max_iters,
        by_epoch=False),
]
auto_scale_lr = dict(enable=False, base_batch_size=8)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(by_epoch=False, interval=500, max_keep_ckpts=2))
randomness = dict(seed=0)
