# Evaluation of the released HorNet-L (ImageNet-22k pre-trained, 1k head) at
# 224: python tools/test.py configs/hornet/hornet-large_in21k-pre_in1k.py CKPT
_base_ = [
    '../_base_/models/hornet/hornet-large.py',
    '../_base_/datasets/imagenet_bs128_hornet_224.py',
    '../_base_/default_runtime.py',
]
