"""Write the parity fixtures with the original OpenMMLab 1.x stack.

Runs in the oracle environment (``tools/oracle/build_env.sh``: mmcv-full
1.7.2, mmdet 2.28.2, mmsegmentation 0.30.0, mmcls 0.25.0, torch 2.1.2), never
in hornet_mm's; ``tools/oracle/make_fixtures.sh`` drives it. For every case it
builds the model in mmdet 2.x / mmseg 0.x (backbone ``mmcls.HorNet``, the
release's recipes), fills it with :mod:`weights`, saves it with mmcv 1.x's
``save_checkpoint`` and runs the generated images through the library's own
test pipeline and inference API. It writes to ``OUT`` (``tests/data/oracle``):

* ``versions.json``: the stack, the build, the images (with SHA-256);
* ``coco_subset.json``: the COCO-format annotations of the images used;
* ``<case>/case.json``: the case, the 1.x config, the outputs per image and
  the metrics; ``<case>/checkpoint.pth`` (small cases: the 1.x file itself) or
  ``<case>/layout.json`` (full-size cases: keys, shapes, the weights' digest
  and the ``meta`` the file had); ``<case>/outputs.npz`` (segmentation maps);
* ``layouts/<name>.json``: key layout and ``meta`` of each released model
  (16 fine-tuned models and the two decoder studies), in the release's
  backbone layout.

The decoder gnConv of the release (``GNConvModule``: norm named after mmcv's
abbreviation, activation ``activate``) is written here from its equations for
the 1.x stack, on mmcv 1.x bricks and mmcls's global-local filter.

Usage (in the oracle environment):
    python tools/oracle/make_fixtures.py --coco ROOT --ade ROOT --out OUT
"""
import argparse
import copy
import hashlib
import importlib.util
import json
import os
import os.path as osp
import platform
import shutil
import tempfile
import time

import mmcls
import mmcls.models  # noqa: F401  (registers mmcls.HorNet)
import mmcv
import mmdet
import mmdet.datasets
import mmseg
import numpy as np
import torch
import torch.nn as nn
from mmcls.models.backbones.hornet import GlobalLocalFilter
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.runner import save_checkpoint
from mmdet.models.builder import NECKS
from mmdet.models.necks import FPN
from mmseg.models.builder import HEADS
from mmseg.models.decode_heads import UPerHead


def _load_weights_module():
    """tools/oracle/weights.py, shared with the tests (numpy + torch only)."""
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'weights.py')
    spec = importlib.util.spec_from_file_location('oracle_weights', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_weights = _load_weights_module()
layout_weights, state_dict_digest = (_weights.layout_weights,
                                     _weights.state_dict_digest)

COCO_CLASSES_4 = ('circle', 'rectangle', 'triangle', 'cross')
ADE_CLASSES_6 = ('sky', 'ground', 'circle', 'rectangle', 'triangle', 'cross')
ADE_PALETTE_6 = [[70, 130, 180], [152, 251, 152], [220, 20, 60], [255, 215, 0],
                 [0, 0, 230], [255, 0, 255]]
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
DET_SCALE = (384, 256)  # the embedded detection config's test scale
SEG_SCALE = (256, 256)  # the embedded segmentation config's test scale
SEG_RATIOS = [0.75, 1.0, 1.25]
SEED = 0


# --------------------------------------------------------------- gnConv (1.x)
class ReleaseGNConvModule(nn.Module):
    """The release's decoder gnConv with its parameter names, for mmcv 1.x.

    ``proj_in`` (1x1, in -> 2D), one depthwise mixer over the gates (7x7
    conv or the global-local filter), the order-n recursion with ``pws``,
    ``proj_out`` (or identity), the norm registered under its mmcv name and
    the activation ``activate``.
    """

    def __init__(self,
                 in_channels,
                 out_channels,
                 order=2,
                 mixer='gnconv',
                 kernel_size=7,
                 h=32,
                 w=17,
                 proj_out=True,
                 norm_cfg=None,
                 act_cfg=None):
        super().__init__()
        dim = out_channels
        self.dims = [dim // 2**i for i in range(order)][::-1]
        self.proj_in = nn.Conv2d(in_channels, 2 * dim, 1)
        gates = sum(self.dims)
        if mixer == 'gnconv':
            self.dwconv = nn.Conv2d(
                gates,
                gates,
                kernel_size,
                padding=(kernel_size - 1) // 2,
                groups=gates)
        else:
            self.dwconv = GlobalLocalFilter(gates, h=h, w=w)
        self.proj_out = nn.Conv2d(dim, out_channels, 1) if proj_out \
            else nn.Identity()
        self.pws = nn.ModuleList(
            nn.Conv2d(self.dims[i], self.dims[i + 1], 1)
            for i in range(order - 1))
        self.norm_name = None
        if norm_cfg is not None:
            self.norm_name, norm = build_norm_layer(norm_cfg, out_channels)
            self.add_module(self.norm_name, norm)
        self.activate = build_activation_layer(act_cfg) if act_cfg else None

    def forward(self, x):
        p, q = torch.split(
            self.proj_in(x), (self.dims[0], sum(self.dims)), dim=1)
        gates = torch.split(self.dwconv(q), self.dims, dim=1)
        x = p * gates[0]
        for i, pw in enumerate(self.pws):
            x = pw(x) * gates[i + 1]
        x = self.proj_out(x)
        if self.norm_name is not None:
            x = getattr(self, self.norm_name)(x)
        if self.activate is not None:
            x = self.activate(x)
        return x


@NECKS.register_module()
class ReleaseGNFPN(FPN):
    """mmdet 2.x FPN whose output convs are the release's gnConv module."""

    def __init__(self, *args, gn_conv_cfg=None, **kwargs):
        super().__init__(*args, **kwargs)
        for i in range(len(self.fpn_convs)):
            self.fpn_convs[i] = ReleaseGNConvModule(
                self.out_channels,
                self.out_channels,
                norm_cfg=kwargs.get('norm_cfg'),
                act_cfg=kwargs.get('act_cfg'),
                **(gn_conv_cfg or {}))


@HEADS.register_module()
class ReleaseGNUPerHead(UPerHead):
    """mmseg 0.x UPerHead whose fpn_bottleneck is the release's gnConv."""

    def __init__(self, gn_conv_cfg=None, **kwargs):
        super().__init__(**kwargs)
        self.fpn_bottleneck = ReleaseGNConvModule(
            len(self.in_channels) * self.channels,
            self.channels,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg,
            **(gn_conv_cfg or {}))


# --------------------------------------------------------------- archs
DW7 = dict(type='DW', kernel_size=7)


def arch(base_dim, depths=(2, 3, 18, 2), gf=None):
    mixers = [DW7, DW7, DW7, DW7]
    if gf:
        mixers = [DW7, DW7] + [dict(type='GF', h=h, w=w) for h, w in gf]
    return dict(
        base_dim=base_dim,
        depths=list(depths),
        orders=[2, 3, 4, 5],
        dw_cfg=copy.deepcopy(mixers))


GF224, GF384 = ((14, 8), (7, 4)), ((24, 13), (12, 7))
SMALL = dict(base_dim=16, depths=(1, 1, 2, 1))


# --------------------------------------------------------------- configs (1.x)
def _cfg_root(lib):
    return osp.join(
        osp.dirname(lib.__file__), '.mim', 'configs', '_base_', 'models')


def det_model(case):
    """mmdet 2.x model config of a detection case (the release's recipe)."""
    a, w = case['arch'], case['widths']
    dims = [a['base_dim'] * 2**i for i in range(4)]
    nc = case['num_classes']
    cascade = case['detector'] == 'cascade'
    base = ('cascade_mask_rcnn_r50_fpn.py'
            if cascade else 'mask_rcnn_r50_fpn.py')
    cfg = mmcv.Config.fromfile(osp.join(_cfg_root(mmdet), base))
    model = cfg.model
    model.backbone = dict(
        type='mmcls.HorNet',
        arch=a,
        drop_path_rate=0.,
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False)
    model.neck.in_channels = dims
    model.neck.out_channels = w['neck']
    if case.get('neck_gnconv'):
        model.neck.type = 'ReleaseGNFPN'
        model.neck.gn_conv_cfg = case['neck_gnconv']
    model.rpn_head.in_channels = w['neck']
    model.rpn_head.feat_channels = w['neck']
    roi = model.roi_head
    roi.bbox_roi_extractor.out_channels = w['neck']
    roi.mask_roi_extractor.out_channels = w['neck']
    roi.mask_head.in_channels = w['neck']
    roi.mask_head.conv_out_channels = w['mask']
    roi.mask_head.num_classes = nc
    if cascade:  # 4conv1fc, SyncBN, GIoU on decoded boxes, per-class boxes
        roi.bbox_head = [
            dict(
                type='ConvFCBBoxHead',
                num_shared_convs=4,
                num_shared_fcs=1,
                in_channels=w['neck'],
                conv_out_channels=w['neck'],
                fc_out_channels=w['fc'],
                roi_feat_size=7,
                num_classes=nc,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0., 0., 0., 0.],
                    target_stds=stds),
                reg_class_agnostic=False,
                reg_decoded_bbox=True,
                norm_cfg=dict(type='SyncBN', requires_grad=True),
                loss_cls=dict(
                    type='CrossEntropyLoss',
                    use_sigmoid=False,
                    loss_weight=1.0),
                loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
            for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                         [0.033, 0.033, 0.067, 0.067])
        ]
    else:
        roi.bbox_head.in_channels = w['neck']
        roi.bbox_head.fc_out_channels = w['fc']
        roi.bbox_head.num_classes = nc
    return cfg


def det_test_pipeline():
    return [
        dict(type='LoadImageFromFile'),
        dict(
            type='MultiScaleFlipAug',
            img_scale=DET_SCALE,
            flip=False,
            transforms=[
                dict(type='Resize', keep_ratio=True),
                dict(type='RandomFlip'),
                dict(type='Normalize', mean=MEAN, std=STD, to_rgb=True),
                dict(type='Pad', size_divisor=32),
                dict(type='ImageToTensor', keys=['img']),
                dict(type='Collect', keys=['img']),
            ])
    ]


def seg_model(case):
    """mmseg 0.x model config of a segmentation case (UperNet recipe)."""
    a, w = case['arch'], case['widths']
    dims = [a['base_dim'] * 2**i for i in range(4)]
    cfg = mmcv.Config.fromfile(osp.join(_cfg_root(mmseg), 'upernet_r50.py'))
    model = cfg.model
    model.pretrained = None
    model.backbone = dict(
        type='mmcls.HorNet',
        arch=a,
        drop_path_rate=0.,
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False)
    model.decode_head.in_channels = dims
    model.decode_head.channels = w['decode']
    model.decode_head.num_classes = case['num_classes']
    if case.get('head_gnconv'):
        model.decode_head.type = 'ReleaseGNUPerHead'
        model.decode_head.gn_conv_cfg = case['head_gnconv']
    model.auxiliary_head.in_channels = dims[2]
    model.auxiliary_head.channels = w['aux']
    model.auxiliary_head.num_classes = case['num_classes']
    model.test_cfg = mmcv.ConfigDict(
        mode='slide', crop_size=case['crop'], stride=case['stride'])
    return cfg


def seg_test_pipeline(aug):
    return [
        dict(type='LoadImageFromFile'),
        dict(
            type='MultiScaleFlipAug',
            img_scale=SEG_SCALE,
            img_ratios=SEG_RATIOS if aug else None,
            flip=aug,
            transforms=[
                dict(type='Resize', keep_ratio=True),
                dict(type='RandomFlip'),
                dict(type='Normalize', mean=MEAN, std=STD, to_rgb=True),
                dict(type='ImageToTensor', keys=['img']),
                dict(type='Collect', keys=['img']),
            ])
    ]


# --------------------------------------------------------------- cases
def _det(name,
         a,
         detector='cascade',
         widths=None,
         neck_gnconv=None,
         images=4,
         cls_gain=None):
    return dict(
        cls_gain=cls_gain,
        name=name,
        task='detection',
        detector=detector,
        arch=a,
        widths=widths or dict(neck=32, fc=64, mask=32),
        neck_gnconv=neck_gnconv,
        num_classes=4,
        images=images)


def _seg(name, a, widths=None, head_gnconv=None, images=3):
    return dict(
        name=name,
        task='segmentation',
        arch=a,
        widths=widths or dict(decode=32, aux=16),
        head_gnconv=head_gnconv,
        num_classes=6,
        images=images,
        crop=[128, 128],
        stride=[85, 85])


FULL_DET = dict(neck=256, fc=1024, mask=256)
FULL_SEG = dict(decode=512, aux=256)
CASES = [
    _det('cascade_small', arch(**SMALL)),
    _det('cascade_small_gf384', arch(**SMALL, gf=GF384)),
    _det(
        'maskrcnn_horfpn7x7_small',
        arch(**SMALL),
        detector='mask_rcnn',
        neck_gnconv=dict(mixer='gnconv', kernel_size=7, proj_out=True),
        cls_gain=2.0),
    _det(
        'maskrcnn_horfpngf_small',
        arch(**SMALL, gf=GF224),
        detector='mask_rcnn',
        neck_gnconv=dict(mixer='gngf', h=32, w=17, proj_out=True),
        cls_gain=2.0),
    _det('cascade_tiny', arch(64), widths=FULL_DET),
    _det('cascade_tiny_gf', arch(64, gf=GF224), widths=FULL_DET),
    _seg('upernet_small', arch(**SMALL)),
    _seg('upernet_small_gf', arch(**SMALL, gf=GF224)),
    _seg(
        'gnuper7x7_small',
        arch(**SMALL),
        head_gnconv=dict(mixer='gnconv', kernel_size=7, proj_out=True)),
    _seg(
        'gnupergf_small',
        arch(**SMALL, gf=GF384),
        head_gnconv=dict(mixer='gngf', h=32, w=17, proj_out=True)),
    _seg('upernet_tiny', arch(64), widths=FULL_SEG),
    _seg('upernet_tiny_gf', arch(64, gf=GF384), widths=FULL_SEG),
]
FULL = {'cascade_tiny', 'cascade_tiny_gf', 'upernet_tiny', 'upernet_tiny_gf'}

# the released models: (name, task, base_dim, gf sizes, extra)
RELEASED = []
for _size, _dim in (('tiny', 64), ('small', 96), ('base', 128), ('large',
                                                                 192)):
    _pre = 'in22k' if _size == 'large' else 'in1k'
    RELEASED.append((f'cascade_mask_rcnn_hornet_{_size}_7x7_3x_coco_{_pre}',
                     'detection', _dim, None, None))
    RELEASED.append(
        (f'cascade_mask_rcnn_hornet_{_size}_gf_3x_coco_{_pre}', 'detection',
         _dim, GF384 if _size == 'large' else GF224, None))
    _crop = 640 if _size == 'large' else 512
    RELEASED.append((f'upernet_hornet_{_size}_7x7_{_crop}_160k_ade20k',
                     'segmentation', _dim, None, None))
    RELEASED.append((f'upernet_hornet_{_size}_gf_{_crop}_160k_ade20k',
                     'segmentation', _dim, GF384, None))
RELEASED += [
    ('horfpn_7x7_mask_rcnn_hornet_small_7x7_1x_coco_in1k', 'detection', 96,
     None, dict(mixer='gnconv', kernel_size=7, proj_out=True)),
    ('horfpn_gf_mask_rcnn_hornet_small_7x7_1x_coco_in1k', 'detection', 96,
     None, dict(mixer='gngf', h=32, w=17, proj_out=True)),
    ('horfpn_7x7_upernet_hornet_small_7x7_512_160k_ade20k', 'segmentation', 96,
     None, dict(mixer='gnconv', kernel_size=7, proj_out=True)),
    ('horfpn_gf_upernet_hornet_small_7x7_512_160k_ade20k', 'segmentation', 96,
     None, dict(mixer='gngf', h=32, w=17, proj_out=True)),
]


# --------------------------------------------------------------- helpers
def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def layout_of(model):
    return {
        k: [list(v.shape), str(v.dtype).replace('torch.', '')]
        for k, v in model.state_dict().items()
    }


def release_backbone_layout(layout):
    """mmcls 0.x backbone keys -> the official release's (pws, gamma1)."""
    out = {}
    for key, value in layout.items():
        if key.startswith('backbone.'):
            key = key.replace('.gnconv.projs.', '.gnconv.pws.')
            for g in ('gamma1', 'gamma2'):
                key = key.replace(f'.{g}.weight', f'.{g}')
        out[key] = value
    return out


def env_meta():
    return dict(
        mmcv_version=mmcv.__version__,
        torch=torch.__version__,
        python=platform.python_version())


def rle(mask):
    from pycocotools import mask as mask_utils
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(size=list(encoded['size']), counts=encoded['counts'].decode())


def build_filled(cfg, task, cls_gain=None):
    if task == 'detection':
        from mmdet.models import build_detector
        model = build_detector(cfg.model)
    else:
        from mmseg.models import build_segmentor
        model = build_segmentor(cfg.model)
    layout = layout_of(model)
    shapes = {k: tuple(v) for k, v in layout.items()}
    state_dict = layout_weights(shapes, seed=SEED, cls_gain=cls_gain)
    model.load_state_dict(state_dict, strict=True)
    return model, layout, state_dict


# --------------------------------------------------------------- detection
def run_detection(case, cfg, ckpt, images, subset_json, coco_root):
    from mmdet.apis import inference_detector, init_detector
    from mmdet.core import encode_mask_results
    from mmdet.datasets import build_dataset

    cfg.data = dict(
        test=dict(
            type='CocoDataset',
            ann_file=subset_json,
            img_prefix=osp.join(coco_root, 'val2017') + '/',
            classes=COCO_CLASSES_4,
            pipeline=det_test_pipeline(),
            test_mode=True))
    model = init_detector(cfg, ckpt, device='cpu')
    dataset = build_dataset(cfg.data.test)
    names = [info['filename'] for info in dataset.data_infos]
    assert names == [osp.basename(p) for p in images], (names, images)
    results, per_image = [], []
    for path in images:
        bbox_result, segm_result = inference_detector(model, path)
        # as mmdet 2.x's single_gpu_test hands them to evaluate()
        results.append((bbox_result, encode_mask_results(segm_result)))
        boxes, scores, labels, masks = [], [], [], []
        for label, (dets, segs) in enumerate(zip(bbox_result, segm_result)):
            for det, seg in zip(dets, segs):
                boxes.append([float(v) for v in det[:4]])
                scores.append(float(det[4]))
                labels.append(label)
                masks.append(rle(seg))
        per_image.append(
            dict(
                image=osp.basename(path),
                bboxes=boxes,
                scores=scores,
                labels=labels,
                masks=masks))
    metrics = dataset.evaluate(results, metric=['bbox', 'segm'])
    metrics = {
        k: float(v)
        for k, v in metrics.items() if not isinstance(v, str)
    }
    return per_image, metrics


# --------------------------------------------------------------- segmentation
def _seg_data(model, path, pipeline):
    from mmcv.parallel import collate
    from mmseg.datasets.pipelines import Compose

    test_pipeline = Compose(pipeline)
    data = test_pipeline(dict(img_info=dict(filename=path), img_prefix=None))
    data = collate([data], samples_per_gpu=1)
    data['img_metas'] = [m.data[0] for m in data['img_metas']]
    return data


def run_segmentation(case, cfg, ckpt, images, ade_root, aug):
    from mmseg.apis import init_segmentor
    from mmseg.datasets import build_dataset

    pipeline = seg_test_pipeline(aug)
    subset_dir = osp.dirname(images[0])
    cfg.data = dict(
        test=dict(
            type='CustomDataset',
            data_root=None,
            img_dir=subset_dir,
            ann_dir=subset_dir.replace('images', 'annotations'),
            img_suffix='.jpg',
            seg_map_suffix='.png',
            reduce_zero_label=True,
            classes=ADE_CLASSES_6,
            palette=ADE_PALETTE_6,
            pipeline=pipeline,
            test_mode=True))
    model = init_segmentor(cfg, ckpt, device='cpu')
    dataset = build_dataset(cfg.data.test)
    names = [info['filename'] for info in dataset.img_infos]
    assert names == [osp.basename(p) for p in images], (names, images)
    preds, probs, per_image = [], [], []
    for path in images:
        data = _seg_data(model, path, pipeline)
        with torch.no_grad():
            imgs, metas = data['img'], data['img_metas']
            prob = sum(
                model.inference(img, meta, True)
                for img, meta in zip(imgs, metas)) / len(imgs)
            pred = model(return_loss=False, rescale=True, **data)[0]
        ours = prob.argmax(dim=1)[0].numpy()
        assert (ours == pred).all(), 'averaged probabilities != aug_test'
        prob = prob[0].numpy()
        rng = np.random.RandomState(1)
        ys = rng.randint(0, prob.shape[1], 400)
        xs = rng.randint(0, prob.shape[2], 400)
        preds.append(pred.astype(np.uint8))
        probs.append(prob[:, ys, xs].astype(np.float32))
        per_image.append(
            dict(
                image=osp.basename(path),
                shape=list(pred.shape),
                points=[ys.tolist(), xs.tolist()],
                class_mean=prob.mean(axis=(1, 2)).tolist()))
    metrics = dataset.evaluate(preds, metric='mIoU')
    metrics = {
        k: float(v)
        for k, v in metrics.items() if not isinstance(v, str)
    }
    return per_image, metrics, preds, probs


# --------------------------------------------------------------- main
def write_case(case, out, coco_images, subset_json, coco_root, ade_images,
               ade_root, tmp):
    folder = osp.join(out, case['name'])
    os.makedirs(folder, exist_ok=True)
    task = case['task']
    cfg = det_model(case) if task == 'detection' else seg_model(case)
    model, layout, state_dict = build_filled(cfg, task, case.get('cls_gain'))
    classes = COCO_CLASSES_4 if task == 'detection' else ADE_CLASSES_6
    meta = dict(
        CLASSES=classes,
        config=cfg.pretty_text,
        seed=SEED,
        exp_name=case['name'],
        epoch=1,
        iter=1)
    if task == 'detection':
        meta['mmdet_version'] = mmdet.__version__
    else:
        meta['mmseg_version'] = mmseg.__version__
        meta['PALETTE'] = ADE_PALETTE_6
    full = case['name'] in FULL
    ckpt = osp.join(tmp if full else folder, 'checkpoint.pth')
    save_checkpoint(model, ckpt, meta=meta)
    del model
    record = dict(case=case, config_1x=cfg.pretty_text)
    if full:
        saved = torch.load(ckpt, map_location='cpu')
        record['layout'] = layout
        record['digest'] = state_dict_digest(state_dict)
        record['meta'] = saved['meta']
    else:
        record['checkpoint_sha256'] = sha256(ckpt)
    t0 = time.time()
    if task == 'detection':
        images = coco_images[:case['images']]
        record['outputs'], record['metrics'] = run_detection(
            case, cfg, ckpt, images, subset_json, coco_root)
    else:
        images = ade_images[:case['images']]
        arrays = {}
        for aug in (False, True):
            key = 'msflip' if aug else 'single'
            per_image, metrics, preds, probs = run_segmentation(
                case, copy.deepcopy(cfg), ckpt, images, ade_root, aug)
            record[f'outputs_{key}'] = per_image
            record[f'metrics_{key}'] = metrics
            for i, (pred, prob) in enumerate(zip(preds, probs)):
                arrays[f'{key}_pred_{i}'] = pred
                arrays[f'{key}_prob_{i}'] = prob
        np.savez_compressed(osp.join(folder, 'outputs.npz'), **arrays)
    record['seconds'] = round(time.time() - t0, 1)
    if full:
        os.remove(ckpt)
    with open(osp.join(folder, 'case.json'), 'w') as f:
        json.dump(record, f, indent=1)
    print(
        f"[oracle] {case['name']}: "
        f"{record.get('metrics') or record.get('metrics_single')} "
        f"({record['seconds']} s)",
        flush=True)


def write_layouts(out):
    folder = osp.join(out, 'layouts')
    os.makedirs(folder, exist_ok=True)
    from mmdet.models import build_detector
    from mmseg.models import build_segmentor
    for name, task, dim, gf, gnconv in RELEASED:
        a = arch(dim, gf=gf)
        if task == 'detection':
            case = _det(
                name,
                a,
                widths=FULL_DET,
                detector='mask_rcnn' if gnconv else 'cascade',
                neck_gnconv=gnconv)
            case['num_classes'] = 80
            cfg = det_model(case)
            model = build_detector(cfg.model)
            meta = dict(
                mmdet_version=mmdet.__version__,
                CLASSES=list(mmdet.datasets.CocoDataset.CLASSES))
        else:
            case = _seg(name, a, widths=FULL_SEG, head_gnconv=gnconv)
            case['num_classes'] = 150
            cfg = seg_model(case)
            model = build_segmentor(cfg.model)
            from mmseg.datasets import ADE20KDataset
            meta = dict(
                mmseg_version=mmseg.__version__,
                CLASSES=list(ADE20KDataset.CLASSES),
                PALETTE=[list(p) for p in ADE20KDataset.PALETTE])
        meta.update(mmcv_version=mmcv.__version__, config=cfg.pretty_text)
        record = dict(
            name=name,
            task=task,
            arch=a,
            gnconv=gnconv,
            layout=release_backbone_layout(layout_of(model)),
            meta=meta)
        del model
        with open(osp.join(folder, name + '.json'), 'w') as f:
            json.dump(record, f)
        print(
            f'[oracle] layout {name}: {len(record["layout"])} keys',
            flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--coco', required=True, help='generated COCO root')
    parser.add_argument('--ade', required=True, help='generated ADE root')
    parser.add_argument('--out', required=True, help='fixture folder')
    parser.add_argument('--only', nargs='*', help='case names to (re)write')
    parser.add_argument(
        '--build-seconds', type=float, help='recorded oracle build time')
    args = parser.parse_args()
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)

    with open(osp.join(args.coco, 'annotations',
                       'instances_val2017.json')) as f:
        coco = json.load(f)
    n_det = max(c['images'] for c in CASES if c['task'] == 'detection')
    keep = coco['images'][:n_det]
    ids = {im['id'] for im in keep}
    subset = dict(
        coco,
        images=keep,
        annotations=[a for a in coco['annotations'] if a['image_id'] in ids])
    subset_json = osp.join(args.out, 'coco_subset.json')
    with open(subset_json, 'w') as f:
        json.dump(subset, f)
    coco_images = [
        osp.join(args.coco, 'val2017', im['file_name']) for im in keep
    ]
    n_seg = max(c['images'] for c in CASES if c['task'] == 'segmentation')
    ade_val = osp.join(args.ade, 'images', 'validation')
    names = sorted(os.listdir(ade_val))[:n_seg]
    with tempfile.TemporaryDirectory() as tmp:
        ade_images = []
        for n in names:  # a folder with just the images used
            for kind, ext in (('images', '.jpg'), ('annotations', '.png')):
                dst = osp.join(tmp, 'ade', kind)
                os.makedirs(dst, exist_ok=True)
                src = osp.join(args.ade, kind, 'validation',
                               n.replace('.jpg', ext))
                shutil.copyfile(src, osp.join(dst, osp.basename(src)))
            ade_images.append(osp.join(tmp, 'ade', 'images', n))
        versions = dict(
            python=platform.python_version(),
            torch=torch.__version__,
            numpy=np.__version__,
            mmcv_full=mmcv.__version__,
            mmdet=mmdet.__version__,
            mmsegmentation=mmseg.__version__,
            mmcls=mmcls.__version__,
            seed=SEED,
            build='bash tools/oracle/build_env.sh',
            build_seconds=args.build_seconds,
            coco_images={osp.basename(p): sha256(p)
                         for p in coco_images},
            ade_images={osp.basename(p): sha256(p)
                        for p in ade_images},
            ade_labels={
                osp.basename(p).replace('.jpg', '.png'):
                sha256(
                    p.replace('images', 'annotations').replace('.jpg', '.png'))
                for p in ade_images
            })
        versions_path = osp.join(args.out, 'versions.json')
        if args.only and osp.exists(versions_path):
            with open(versions_path) as f:
                old = json.load(f)
            if old.get('build_seconds') and not args.build_seconds:
                versions['build_seconds'] = old['build_seconds']
        with open(versions_path, 'w') as f:
            json.dump(versions, f, indent=1)
        for case in CASES:
            if args.only and case['name'] not in args.only:
                continue
            write_case(case, args.out, coco_images, subset_json, args.coco,
                       ade_images, args.ade, tmp)
    if not args.only or 'layouts' in args.only:
        write_layouts(args.out)


if __name__ == '__main__':
    main()
