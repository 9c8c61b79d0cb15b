# HorNet-T image classifier (mmpretrain), drop path 0.2 as published. The other
# sizes inherit from this file and change arch, drop path and head width.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='hornet_mm.HorNet', arch='tiny', drop_path_rate=0.2),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
        cal_acc=False),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]),
)
custom_imports = dict(imports=['hornet_mm'], allow_failed_imports=False)
