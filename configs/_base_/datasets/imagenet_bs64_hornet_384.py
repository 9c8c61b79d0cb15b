# ImageNet-1k at 384: the 224 augmentation at 384 for fine-tuning, and a
# bicubic resize of the whole image to 384 x 384 (no crop) for testing, as the
# released 384 models were evaluated.
_base_ = './imagenet_bs128_hornet_224.py'
train_pipeline = [
    dict(step, scale=384) if step['type'] == 'RandomResizedCrop' else step
    for step in _base_.train_pipeline
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=384, backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
