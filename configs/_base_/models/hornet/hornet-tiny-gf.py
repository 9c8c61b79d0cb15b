_base_ = './hornet-tiny.py'
model = dict(backbone=dict(arch='tiny-gf'))
