# HorNet-L: pre-trained on ImageNet-22k (drop path 0.2), 1k head.
_base_ = './hornet-tiny.py'
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.2),
    head=dict(in_channels=1536))
