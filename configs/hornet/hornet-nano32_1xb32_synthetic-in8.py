# The backbone of the small-HorNet Mask R-CNN of the main job
# (configs/detection/mask-rcnn_hornet-nano-in8-pre_fpn-gn_2fc-giou_
# 1xb4-7e_synthetic-coco.py) pretrained as a classifier on the generated
# 8-class ImageNet-style set, as the released detectors start from ImageNet
# weights:
#   python tools/misc/make_synthetic_data.py imagenet data/synthetic_imagenet
#   python tools/train.py configs/hornet/hornet-nano32_1xb32_synthetic-in8.py
#   python tools/model_converters/hornet_to_mm.py \
#       work_dirs/hornet-nano32_1xb32_synthetic-in8/epoch_45.pth \
#       checkpoints/hornet-nano32_synthetic-in8.pth
# The detector's arch (base_dim 32, its global-filter sizes; the filters are
# resized on the fly to the 64x64 crops here); 45 epochs of 1200 images
# (top-1 94.0; 70.0 after 15 epochs, 85.5 after 30 on 2 CPU cores, where
# the detector fine-tuned from them reached a mean bbox mAP of 0.283 and
# 0.300 over 3 seeds after 11 epochs, and 0.366 from 45 after 10).
_base_ = ['./hornet-nano_1xb32_synthetic-in8.py']

model = dict(
    backbone=dict(
        arch=dict(
            base_dim=32,
            dw_cfg=[
                dict(type='DW', kernel_size=7),
                dict(type='DW', kernel_size=7),
                dict(type='GF', h=16, w=9),
                dict(type='GF', h=8, w=5),
            ])),
    head=dict(in_channels=32 * 8))

max_epochs = 45
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=0,
        end=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
# the workers live through all epochs instead of starting again for each
train_dataloader = dict(persistent_workers=True)
