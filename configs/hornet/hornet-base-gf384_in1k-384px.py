# Evaluation of the released HorNet-B-GF 384 model (ImageNet-1k, 384 x 384).
#   python tools/test.py configs/hornet/hornet-base-gf384_in1k-384px.py CKPT
_base_ = [
    '../_base_/models/hornet/hornet-base-gf384.py',
    '../_base_/datasets/imagenet_bs64_hornet_384.py',
    '../_base_/default_runtime.py',
]
