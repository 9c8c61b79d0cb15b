# HorNet-B (7x7) on ImageNet-1k: 8 GPUs x 64 images (lr scaled from 4e-3 @ 4096),
# drop path 0.5, gradient clipping 5.
_base_ = [
    '../_base_/models/hornet/hornet-base.py',
    '../_base_/datasets/imagenet_bs128_hornet_224.py',
    '../_base_/schedules/imagenet_bs4096_adamw_hornet.py',
    '../_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=64)
optim_wrapper = dict(clip_grad=dict(max_norm=5.0))
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
