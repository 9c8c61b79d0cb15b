# HorNet-B-GF: global filter in stages 3-4, gradient clipping 1, RandAugment
# magnitude 15.
_base_ = './hornet-base_8xb64_in1k.py'
model = dict(backbone=dict(arch='base-gf'))
optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
train_pipeline = [
    dict(step, magnitude_level=15) if step['type'] == 'RandAugment' else step
    for step in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
