_base_ = './hornet-large.py'
model = dict(backbone=dict(arch='large-gf'))
