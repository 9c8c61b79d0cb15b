# Evaluation of the released HorNet-L-GF (ImageNet-22k pre-trained, 1k head) at
# 224.
_base_ = './hornet-large_in21k-pre_in1k.py'
model = dict(backbone=dict(arch='large-gf'))
