# UperNet, HorNet-L (7x7, ImageNet-22k pre-trained), 160k iterations on
# ADE20K at 640x640: stage-wise decay 0.8 over 12 layers, drop path 0.4,
# activation checkpointing in the backbone; sliding-window test with 640
# crops at stride 426. Published: mIoU 54.1 / 54.5; 232M params, 2473G FLOPs.
_base_ = [
    '../_base_/models/upernet_hornet-t.py',
    '../_base_/datasets/ade20k_checked_640x640.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/hornet_seg_adamw_160k.py',
]
crop_size = (640, 640)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch='large',
        drop_path_rate=0.4,
        with_cp=True,
        init_cfg=dict(checkpoint='checkpoints/hornet-large_in22k.pth')),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(426, 426)))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.8, num_layers=12))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
