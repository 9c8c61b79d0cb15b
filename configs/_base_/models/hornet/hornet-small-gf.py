_base_ = './hornet-small.py'
model = dict(backbone=dict(arch='small-gf'))
