# A small-HorNet Mask R-CNN trained from scratch on the generated COCO-format
# set (4 categories of drawn shapes, polygon/RLE masks, crowd regions):
#   python tools/misc/make_synthetic_data.py coco data/synthetic_coco
#   python tools/train.py configs/detection/mask-rcnn_hornet-nano_fpn_1xb4-12e_synthetic-coco.py
# One process, 4 images per batch, images at most 384 x 256; the RoI
# extractors are hornet_mm's (mmdet's with a RoIAlign vectorised on the CPU).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['hornet_mm'], allow_failed_imports=False)

classes = ('circle', 'rectangle', 'triangle', 'cross')
model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(
        _delete_=True,
        type='hornet_mm.HorNet',
        arch=dict(
            base_dim=32,
            depths=[1, 1, 3, 1],
            orders=[2, 3, 4, 5],
            dw_cfg=[
                dict(type='DW', kernel_size=7),
                dict(type='DW', kernel_size=7),
                # sized for 256 / 16 = 16 rows (rfft 16 x 9) and 8 (8 x 5);
                # other sizes are resized on the fly
                dict(type='GF', h=16, w=9),
                dict(type='GF', h=8, w=5),
            ]),
        drop_path_rate=0.05,
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=64),
    rpn_head=dict(in_channels=64, feat_channels=64),
    roi_head=dict(
        # mmdet's extractor; its RoIAlign computes on all CPU threads
        bbox_roi_extractor=dict(
            type='hornet_mm.SingleRoIExtractor', out_channels=64),
        bbox_head=dict(
            in_channels=64, fc_out_channels=256, num_classes=len(classes)),
        mask_roi_extractor=dict(
            type='hornet_mm.SingleRoIExtractor', out_channels=64),
        mask_head=dict(
            in_channels=64, conv_out_channels=64, num_classes=len(classes))),
    # fewer proposals and sampled RoIs than for COCO: a few objects per image
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=300),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=300), rcnn=dict(max_per_img=50)),
)

data_root = 'data/synthetic_coco/'
metainfo = dict(classes=classes)
dataset_type = 'hornet_mm.CocoDataset'
train_pipeline = [
    dict(type='hornet_mm.LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(384, 256), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),  # the name mmdet's DetInferencer replaces
    dict(type='Resize', scale=(384, 256), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

max_epochs = 12
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=12)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        eta_min=1e-5),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
    clip_grad=dict(max_norm=10.0))
auto_scale_lr = dict(enable=False, base_batch_size=4)
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=1, max_keep_ckpts=2))
randomness = dict(seed=0)
