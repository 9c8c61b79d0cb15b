# HorNet-L-GF fine-tuned at 384 on ImageNet-1k: drop path 0.4, no mixup/cutmix.
_base_ = './hornet-large.py'
model = dict(
    backbone=dict(arch='large-gf384', drop_path_rate=0.4), train_cfg=None)
