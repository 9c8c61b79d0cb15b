# HorNet-base-gf image classifier (mmpretrain). Drop path of the published recipe.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='hornet_mm.HorNet', arch='base-gf', drop_path_rate=0.5),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1024,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
        cal_acc=False),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]),
)
custom_imports = dict(imports=['hornet_mm'], allow_failed_imports=False)
