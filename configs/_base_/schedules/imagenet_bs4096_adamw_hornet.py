# HorNet's ImageNet-1k schedule: AdamW lr 4e-3 for a total batch of 4096,
# weight decay 0.05 (none on norms, biases and layer scales), 300 epochs of
# cosine decay to 1e-6 after 20 linear warm-up epochs.
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=4e-3, weight_decay=0.05, eps=1e-8,
        betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            '.gamma1': dict(decay_mult=0.0),
            '.gamma2': dict(decay_mult=0.0),
        }),
)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        end=20,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=20,
        end=300),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# The lr above is the published one, for 4096 images per step. Scaling is on:
# the runner multiplies it by (GPUs x batch per GPU) / 4096, so every config
# trains with the linearly scaled published lr for the batch it runs with
# (1e-3 for 8 x 128); --auto-scale-lr changes nothing here.
auto_scale_lr = dict(base_batch_size=4096, enable=True)
