# HorNet-T (7x7) on ImageNet-1k, 300 epochs: 8 GPUs x 128 images, published lr
# 4e-3 @ 4096 scaled to the actual batch, drop path 0.2, gradient clipping 100,
# RandAugment m9-mstd0.5, EMA 0.9999 (the EMA weights are evaluated).
_base_ = [
    '../_base_/models/hornet/hornet-tiny.py',
    '../_base_/datasets/imagenet_bs128_hornet_224.py',
    '../_base_/schedules/imagenet_bs4096_adamw_hornet.py',
    '../_base_/default_runtime.py',
]
optim_wrapper = dict(clip_grad=dict(max_norm=100.0))
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
