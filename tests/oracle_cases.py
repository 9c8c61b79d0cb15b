"""The parity cases of ``tests/data/oracle`` on hornet_mm's side.

The fixtures were written by the OpenMMLab 1.x stack
(``tools/oracle/make_fixtures.sh``); this module turns each case into a
hornet_mm config (a repository config with the case's widths, classes and the
generated images), regenerates the images and the weights of the full-size
cases, and checks both against what the fixtures recorded.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Dict, List

import torch
from mmengine.config import Config

from helpers import REPO, load_tool

FIXTURES = osp.join(REPO, 'tests', 'data', 'oracle')
DET = osp.join(REPO, 'configs', 'detection')
SEG = osp.join(REPO, 'configs', 'segmentation')

# every case the fixtures must hold (a missing one is a failure, not a skip)
DET_CASES = [
    'cascade_small', 'cascade_small_gf384', 'maskrcnn_horfpn7x7_small',
    'maskrcnn_horfpngf_small', 'cascade_tiny', 'cascade_tiny_gf'
]
SEG_CASES = [
    'upernet_small', 'upernet_small_gf', 'gnuper7x7_small', 'gnupergf_small',
    'upernet_tiny', 'upernet_tiny_gf'
]
FULL_SIZE = {
    'cascade_tiny':
    osp.join(
        DET,
        'cascade-mask-rcnn_hornet-t_fpn_4conv1fc-giou_ms-crop-3x_coco.py'),
    'cascade_tiny_gf':
    osp.join(
        DET,
        'cascade-mask-rcnn_hornet-t-gf_fpn_4conv1fc-giou_ms-crop-3x_coco.py'),
    'upernet_tiny':
    osp.join(SEG, 'hornet-tiny_upernet_8xb2-160k_ade20k-512x512.py'),
    'upernet_tiny_gf':
    osp.join(SEG, 'hornet-tiny-gf_upernet_8xb2-160k_ade20k-512x512.py'),
}
# the release's models and the hornet_mm config each must load into
RELEASED_CONFIGS: Dict[str, str] = {}
for _size, _s in (('tiny', 't'), ('small', 's'), ('base', 'b'), ('large',
                                                                 'l')):
    _pre = 'in22k' if _size == 'large' else 'in1k'
    for _mixer, _suffix in (('7x7', ''), ('gf', '-gf')):
        RELEASED_CONFIGS[
            f'cascade_mask_rcnn_hornet_{_size}_{_mixer}_3x_coco_{_pre}'] = \
            osp.join(DET, f'cascade-mask-rcnn_hornet-{_s}{_suffix}_fpn_'
                     '4conv1fc-giou_ms-crop-3x_coco.py')
        if _size == 'large':
            _seg = (f'hornet-large{_suffix}-in21k-pre_upernet_8xb2-160k_'
                    'ade20k-640x640.py')
        else:
            _seg = (f'hornet-{_size}{_suffix}_upernet_8xb2-160k_'
                    'ade20k-512x512.py')
        _crop = 640 if _size == 'large' else 512
        RELEASED_CONFIGS[
            f'upernet_hornet_{_size}_{_mixer}_{_crop}_160k_ade20k'] = \
            osp.join(SEG, _seg)
for _mixer in ('7x7', 'gf'):
    RELEASED_CONFIGS[
        f'horfpn_{_mixer}_mask_rcnn_hornet_small_7x7_1x_coco_in1k'] = \
        osp.join(DET, f'mask-rcnn_hornet-s_horfpn-{_mixer}_1x_coco.py')
    RELEASED_CONFIGS[
        f'horfpn_{_mixer}_upernet_hornet_small_7x7_512_160k_ade20k'] = \
        osp.join(SEG, f'hornet-small_gnuper-{_mixer}_8xb2-160k_'
                 'ade20k-512x512.py')

DET_SCALE = (384, 256)
SEG_SCALE = (256, 256)
SEG_RATIOS = [0.75, 1.0, 1.25]


def load_json(path: str) -> dict:
    assert osp.isfile(path), (f'fixture {path} is missing: write it with '
                              'bash tools/oracle/make_fixtures.sh')
    with open(path) as f:
        return json.load(f)


def case_record(name: str) -> dict:
    return load_json(osp.join(FIXTURES, name, 'case.json'))


def versions() -> dict:
    return load_json(osp.join(FIXTURES, 'versions.json'))


def sha256(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def make_data(root: str) -> Dict[str, str]:
    """The images of the fixtures, regenerated and checked by SHA-256.

    Returns:
        ``coco`` (root with ``val2017/``), ``coco_ann`` (the fixtures' subset
        annotation file) and ``ade`` (root of an ADE-style set holding just
        the images used, ``images/validation`` and
        ``annotations/validation``).
    """
    from hornet_mm.datasets.synthetic import make_ade_style, make_coco_style

    record = versions()
    coco = osp.join(root, 'coco')
    ade_all = osp.join(root, 'ade_all')
    make_coco_style(coco, num_train=0, num_val=4, progress=False)
    make_ade_style(ade_all, num_train=0, num_val=3)
    for name, digest in record['coco_images'].items():
        path = osp.join(coco, 'val2017', name)
        assert sha256(path) == digest, f'{path} differs from the fixtures'
    ade = osp.join(root, 'ade')
    for kind, ext, digests in (('images', '.jpg', record['ade_images']),
                               ('annotations', '.png', record['ade_labels'])):
        os.makedirs(osp.join(ade, kind, 'validation'))
        for name, digest in digests.items():
            src = osp.join(ade_all, kind, 'validation', name)
            assert name.endswith(ext) and sha256(src) == digest, \
                f'{src} differs from the fixtures'
            os.link(src, osp.join(ade, kind, 'validation', name))
    return dict(
        coco=coco, coco_ann=osp.join(FIXTURES, 'coco_subset.json'), ade=ade)


def source_checkpoint(name: str, out_dir: str) -> str:
    """The 1.x-stack checkpoint of a case: the fixture's file, or for the
    full-size cases the file rebuilt from the recorded layout, weights (their
    digest checked) and ``meta``."""
    record = case_record(name)
    path = osp.join(FIXTURES, name, 'checkpoint.pth')
    if 'layout' not in record:
        assert sha256(path) == record['checkpoint_sha256'], \
            f'{path} differs from the one the oracle wrote'
        return path
    weights = load_tool('tools/oracle/weights.py')
    state_dict = weights.layout_weights(
        {
            k: tuple(v)
            for k, v in record['layout'].items()
        },
        seed=versions()['seed'])
    assert weights.state_dict_digest(state_dict) == record['digest'], \
        f'{name}: regenerated weights differ from the oracle\'s'
    path = osp.join(out_dir, f'{name}_1x.pth')
    torch.save(dict(state_dict=state_dict, meta=record['meta']), path)
    return path


def _base_config(case: dict) -> str:
    if case['name'] in FULL_SIZE:
        return FULL_SIZE[case['name']]
    if case['task'] == 'detection':
        if case['detector'] == 'cascade':
            return FULL_SIZE['cascade_tiny']
        mixer = '7x7' if case['neck_gnconv']['mixer'] == 'gnconv' else 'gf'
        return osp.join(DET, f'mask-rcnn_hornet-s_horfpn-{mixer}_1x_coco.py')
    if case['head_gnconv']:
        mixer = '7x7' if case['head_gnconv']['mixer'] == 'gnconv' else 'gf'
        return osp.join(
            SEG, f'hornet-small_gnuper-{mixer}_8xb2-160k_ade20k-512x512.py')
    return FULL_SIZE['upernet_tiny']


def _set_det_widths(model, case: dict) -> None:
    widths, nc = case['widths'], case['num_classes']
    dims = [case['arch']['base_dim'] * 2**i for i in range(4)]
    model.neck.in_channels = dims
    model.neck.out_channels = widths['neck']
    model.rpn_head.in_channels = widths['neck']
    model.rpn_head.feat_channels = widths['neck']
    roi = model.roi_head
    roi.bbox_roi_extractor.out_channels = widths['neck']
    roi.mask_roi_extractor.out_channels = widths['neck']
    heads = roi.bbox_head if isinstance(roi.bbox_head,
                                        list) else [roi.bbox_head]
    for head in heads:
        head.in_channels = widths['neck']
        head.fc_out_channels = widths['fc']
        head.num_classes = nc
        if 'conv_out_channels' in head:
            head.conv_out_channels = widths['neck']
    roi.mask_head.in_channels = widths['neck']
    roi.mask_head.conv_out_channels = widths['mask']
    roi.mask_head.num_classes = nc


def _set_seg_widths(model, case: dict) -> None:
    widths, nc = case['widths'], case['num_classes']
    dims = [case['arch']['base_dim'] * 2**i for i in range(4)]
    model.decode_head.in_channels = dims
    model.decode_head.channels = widths['decode']
    model.decode_head.num_classes = nc
    model.auxiliary_head.in_channels = dims[2]
    model.auxiliary_head.channels = widths['aux']
    model.auxiliary_head.num_classes = nc


def case_config(name: str, data: Dict[str, str], out_dir: str) -> str:
    """A hornet_mm config for a case, written to ``out_dir``.

    The repository config of the case's recipe (for the full-size cases, the
    published config itself, whose backbone and widths must equal the case's)
    with the case's backbone widths, head widths and classes, and the test
    data: the generated images through the embedded configs' test pipeline.
    """
    case = case_record(name)['case']
    base = _base_config(case)
    cfg = Config.fromfile(base)
    model = cfg.model
    if name in FULL_SIZE:  # the published model as it is (but the classes)
        from hornet_mm.models import HorNet
        arch = model.backbone.arch
        arch = HorNet.arch_zoo[arch] if isinstance(arch, str) else arch
        assert dict(arch) == case['arch'], (base, arch, case['arch'])
    model.backbone.arch = case['arch']
    model.backbone.drop_path_rate = 0.
    model.backbone.init_cfg = None
    if case['task'] == 'detection':
        _set_det_widths(model, case)
        classes = ('circle', 'rectangle', 'triangle', 'cross')
        cfg.test_dataloader = dict(
            batch_size=1,
            num_workers=0,
            persistent_workers=False,
            drop_last=False,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(
                type='CocoDataset',
                data_root='',
                ann_file=data['coco_ann'],
                data_prefix=dict(img=osp.join(data['coco'], 'val2017') + '/'),
                metainfo=dict(classes=classes),
                test_mode=True,
                pipeline=[
                    dict(type='LoadImageFromFile'),
                    dict(type='Resize', scale=DET_SCALE, keep_ratio=True),
                    dict(
                        type='LoadAnnotations', with_bbox=True,
                        with_mask=True),
                    dict(
                        type='PackDetInputs',
                        meta_keys=('img_id', 'img_path', 'ori_shape',
                                   'img_shape', 'scale_factor')),
                ]))
        cfg.test_evaluator = dict(
            type='CocoMetric',
            ann_file=data['coco_ann'],
            metric=['bbox', 'segm'])
    else:
        _set_seg_widths(model, case)
        model.test_cfg = dict(
            mode='slide',
            crop_size=tuple(case['crop']),
            stride=tuple(case['stride']))
        classes = ('sky', 'ground', 'circle', 'rectangle', 'triangle', 'cross')
        palette = [(70, 130, 180), (152, 251, 152), (220, 20, 60),
                   (255, 215, 0), (0, 0, 230), (255, 0, 255)]
        cfg.test_dataloader = dict(
            batch_size=1,
            num_workers=0,
            persistent_workers=False,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(
                type='hornet_mm.ADE20KStyleDataset',
                data_root=data['ade'],
                metainfo=dict(classes=classes, palette=palette),
                data_prefix=dict(
                    img_path='images/validation',
                    seg_map_path='annotations/validation'),
                pipeline=[
                    dict(type='LoadImageFromFile'),
                    dict(type='Resize', scale=SEG_SCALE, keep_ratio=True),
                    dict(type='hornet_mm.LoadSegAnnotations'),
                    dict(type='PackSegInputs'),
                ]))
        # the multi-scale test of mmseg 0.x: ratios of the test scale
        cfg.tta_pipeline = [
            dict(type='LoadImageFromFile'),
            dict(
                type='TestTimeAug',
                transforms=[
                    [
                        dict(
                            type='Resize',
                            scale=(int(SEG_SCALE[0] * r),
                                   int(SEG_SCALE[1] * r)),
                            keep_ratio=True) for r in SEG_RATIOS
                    ],
                    [
                        dict(
                            type='RandomFlip', prob=0.,
                            direction='horizontal'),
                        dict(
                            type='RandomFlip', prob=1., direction='horizontal')
                    ],
                    [dict(type='hornet_mm.LoadSegAnnotations')],
                    [dict(type='PackSegInputs')],
                ])
        ]
        cfg.test_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
    path = osp.join(out_dir, f'{name}.py')
    cfg.dump(path)
    return path


def metrics_of(work_dir: str) -> dict:
    """The metrics ``tools/test.py`` logged to ``work_dir``."""
    found: List[str] = []
    for dirpath, _, files in os.walk(work_dir):
        found += [
            osp.join(dirpath, f) for f in files
            if f.endswith('.json') and f[:8].isdigit()
        ]
    assert len(found) == 1, f'expected one metrics log in {work_dir}: {found}'
    with open(found[0]) as f:
        return json.load(f)
