_base_ = './hornet-tiny.py'
model = dict(
    backbone=dict(arch='small', drop_path_rate=0.4),
    head=dict(in_channels=768))
