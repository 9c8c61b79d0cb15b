# HorNet-T-GF: as HorNet-T with the global filter in stages 3-4 and gradient
# clipping 1.
_base_ = './hornet-tiny_8xb128_in1k.py'
model = dict(backbone=dict(arch='tiny-gf'))
optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
