_base_ = './hornet-base.py'
model = dict(backbone=dict(arch='base-gf384'))
