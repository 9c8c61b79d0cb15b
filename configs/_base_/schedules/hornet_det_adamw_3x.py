# 36 epochs, lr steps at 27 and 33 (the published 3x schedule).
_base_ = './hornet_det_adamw_1x.py'
max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], end=max_epochs, milestones=[27, 33]),
]
