# HorNet-large-gf384 image classifier (mmpretrain): the 384 fine-tuning recipe
# (drop path 0.4, no mixup/cutmix).
model = dict(
    type='ImageClassifier',
    backbone=dict(type='hornet_mm.HorNet', arch='large-gf384', drop_path_rate=0.4),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1536,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
        cal_acc=False),
)
custom_imports = dict(imports=['hornet_mm'], allow_failed_imports=False)
