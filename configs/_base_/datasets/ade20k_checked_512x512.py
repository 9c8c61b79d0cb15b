# mmseg's ADE20K 512x512 settings (ADEChallengeData2016 under
# data/ade/ADEChallengeData2016) with hornet_mm's checked dataset and label
# loading: a missing label map stops the start-up naming it, and a map of
# the wrong size or with values beyond the 150 classes is an error naming
# the file instead of a silently wrong mIoU. Multi-scale + flip test-time
# augmentation (`tools/test.py --tta`): ratios 0.5 .. 1.75 of the test scale
# (as mmseg 0.x's MultiScaleFlipAug, with which the published ms+flip mIoU
# were measured; mmseg 1.x's own ADE20K config scales the original image
# instead), both flips.
_base_ = 'mmseg::_base_/datasets/ade20k.py'

dataset_type = 'hornet_mm.ADE20KDataset'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='hornet_mm.LoadSegAnnotations'),
    dict(
        type='RandomResize',
        scale=(2048, 512),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_scale = (2048, 512)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=test_scale, keep_ratio=True),
    dict(type='hornet_mm.LoadSegAnnotations'),
    dict(type='PackSegInputs'),
]
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(
                    type='Resize',
                    scale=(int(test_scale[0] * r), int(test_scale[1] * r)),
                    keep_ratio=True) for r in img_ratios
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
    dataset=dict(type=dataset_type, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(type=dataset_type, pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
