# 160k iterations at total batch 16 (8 GPUs x 2 images), as published: AdamW
# lr 1e-4, weight decay 0.05 (none on biases and 1-D parameters), stage-wise
# lr decay (rate and layer count per config); lr warm-up over 1500 iterations
# from 1e-6 times the lr, multiplied by a poly decay (power 1) to 0 over the
# whole run -- mmcv 1.x's `poly` policy with linear warm-up, which the
# published models were trained with. (mmengine's LinearLR reaches its end
# factor at iteration end - begin - 1, hence end=1501 for mmcv's 1500.)
_base_ = 'mmseg::_base_/schedules/schedule_160k.py'

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='hornet_mm.HorNetLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=12),
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1501),
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=1.0,
        begin=0,
        end=160000,
        by_epoch=False),
]
# --auto-scale-lr rescales the lr to another total batch
auto_scale_lr = dict(enable=False, base_batch_size=16)
