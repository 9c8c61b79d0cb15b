# HorNet-L-GF 384: fine-tune the ImageNet-22k model on ImageNet-1k at 384 (the
# published recipe: 30 epochs, lr 5e-5 @ 512, weight decay 1e-8, layer decay
# 0.7, drop path 0.4, no mixup/cutmix, EMA) and evaluate it at 384. Start from
# a converted 22k checkpoint with load_from (its 224 filters are resized).
_base_ = [
    '../_base_/models/hornet/hornet-large-gf384.py',
    '../_base_/datasets/imagenet_bs64_hornet_384.py',
    '../_base_/schedules/imagenet_bs512_adamw_hornet_ft384.py',
    '../_base_/default_runtime.py',
]
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
