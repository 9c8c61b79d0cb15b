# HorNet-T-GF on ImageNet-1k, 300 epochs: 8 GPUs x 128 images (total 1024),
# lr 4e-3 x 1024 / 4096 = 1e-3, gradient clipping 1, drop path 0.2, EMA.
_base_ = [
    '../_base_/models/hornet/hornet-tiny-gf.py',
    '../_base_/datasets/imagenet_bs128_hornet_224.py',
    '../_base_/schedules/imagenet_bs4096_adamw_hornet.py',
    '../_base_/default_runtime.py',
]
optim_wrapper = dict(
    optimizer=dict(lr=4e-3 * 8 * 128 / 4096), clip_grad=dict(max_norm=1.0))
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
