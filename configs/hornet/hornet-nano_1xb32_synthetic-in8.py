# A small HorNet (custom arch, 7x7 and global-filter stages) trained from
# scratch on the generated 8-class ImageNet-style set (shapes and textures):
#   python tools/misc/make_synthetic_data.py imagenet data/synthetic_imagenet
#   python tools/train.py configs/hornet/hornet-nano_1xb32_synthetic-in8.py
# One process, batch 32, 64x64 crops, 40 epochs of 1200 images: about 1.5
# minutes on 2 CPU cores, top-1 about 85% on val (chance: 12.5%).
_base_ = ['../_base_/default_runtime.py']
custom_imports = dict(imports=['hornet_mm'], allow_failed_imports=False)

classes = ('circle', 'square', 'triangle', 'cross', 'horizontal_stripes',
           'vertical_stripes', 'checkerboard', 'dots')
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='hornet_mm.HorNet',
        arch=dict(
            base_dim=24,
            depths=[1, 1, 3, 1],
            orders=[2, 3, 4, 5],
            dw_cfg=[
                dict(type='DW', kernel_size=7),
                dict(type='DW', kernel_size=7),
                dict(type='GF', h=4, w=3),  # 64 / 16 = 4 -> rfft 4 x 3
                dict(type='GF', h=2, w=2),  # 64 / 32 = 2 -> rfft 2 x 2
            ]),
        drop_path_rate=0.05),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=len(classes),
        in_channels=24 * 8,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.)),
)

dataset_type = 'hornet_mm.ImageNet'
data_root = 'data/synthetic_imagenet'
data_preprocessor = dict(
    num_classes=len(classes),
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)
train_pipeline = [
    dict(type='hornet_mm.LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.6, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='hornet_mm.LoadImageFromFile'),
    dict(type='ResizeEdge', scale=72, edge='short'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        metainfo=dict(classes=classes),
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        metainfo=dict(classes=classes),
        pipeline=test_pipeline,
        test_mode=True),  # an undecodable image is an error, not skipped
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

max_epochs = 40
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
    clip_grad=dict(max_norm=5.0),
)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=1,
        end=max_epochs),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=1, max_keep_ckpts=2, save_best='auto'),
)
randomness = dict(seed=0)
