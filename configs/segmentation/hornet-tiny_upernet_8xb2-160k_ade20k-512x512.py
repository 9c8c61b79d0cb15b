# UperNet, HorNet-T (7x7), 160k iterations on ADE20K at 512x512, as published:
# stage-wise lr decay 0.9 over 6 layers, drop path 0.4, no gradient clipping,
# batch 16 (8 GPUs x 2); sliding-window test with 512 crops at stride 341.
# Published: mIoU 48.1 single-scale / 48.9 ms+flip; 52M params, 926G FLOPs.
_base_ = [
    '../_base_/models/upernet_hornet-t.py',
    '../_base_/datasets/ade20k_checked_512x512.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/hornet_seg_adamw_160k.py',
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.9, num_layers=6))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
