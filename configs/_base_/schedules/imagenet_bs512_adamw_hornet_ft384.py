# HorNet-L 384 fine-tuning on ImageNet-1k: AdamW lr 5e-5 for a total batch of
# 512 (scaled to the actual batch), weight decay 1e-8, layer-wise lr decay 0.7
# (ids from HorNet.get_layer_depth), 30 epochs of cosine decay.
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=5e-5, weight_decay=1e-8, eps=1e-8,
        betas=(0.9, 0.999)),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.7,
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0),
)
param_scheduler = [
    dict(
        type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=0,
        end=30),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=512, enable=True)
