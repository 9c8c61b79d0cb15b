"""Converting the released detectors and segmentors (mmdet 2.x / mmseg 0.x).

The key layouts and ``meta`` of all 16 released fine-tuned models and the two
decoder studies were written by the original stack (``tests/data/oracle/
layouts``, see ``tools/oracle/make_fixtures.py``); the small checkpoints are
files mmcv 1.x's ``save_checkpoint`` wrote. Each must convert and load strictly
into its hornet_mm config, and the converter must recognise the config.
"""
import argparse
import functools
import os.path as osp
import subprocess
import sys

import pytest
import torch

from helpers import REPO
from hornet_mm.apis import released as rel
from oracle_cases import (FIXTURES, RELEASED_CONFIGS, case_config, case_record,
                          load_json, make_data)

CONVERTER = osp.join(REPO, 'tools', 'model_converters', 'hornet_to_mm.py')
LAYOUTS = osp.join(FIXTURES, 'layouts')


def _meta_state_dict(layout: dict) -> dict:
    dtypes = {'float32': torch.float32, 'int64': torch.int64}
    return {
        k: torch.empty(shape, dtype=dtypes[dtype], device='meta')
        for k, (shape, dtype) in layout.items()
    }


@functools.lru_cache(maxsize=None)
def _skeleton(config: str) -> dict:
    return rel.build_model_skeleton(config).state_dict()


@pytest.mark.parametrize('name', sorted(RELEASED_CONFIGS))
def test_released_layout_loads_strictly(name):
    record = load_json(osp.join(LAYOUTS, name + '.json'))
    released = _meta_state_dict(record['layout'])
    # the release's backbone layout, not mmcls's
    assert not any('.projs.' in k or 'gamma1.weight' in k for k in released)
    converted = rel.convert_dense_state_dict(released)
    config = RELEASED_CONFIGS[name]
    assert rel.state_dict_mismatch(converted, _skeleton(config)) == []
    # idempotent
    assert list(rel.convert_dense_state_dict(converted)) == list(converted)
    what = rel.describe_state_dict(converted)
    size = name.split('hornet_')[1].split('_')[0]
    assert f'HorNet {size}' in what, what  # a name of the arch zoo
    gf_backbone = '_gf_' in name.split('hornet_')[1]
    assert ('(GF ' in what) == gf_backbone
    if name.startswith('cascade'):
        assert 'Cascade R-CNN (3 stages, box heads 4conv1fc, mask head)' \
            in what and '80 classes' in what
    elif name.startswith('horfpn') and 'mask_rcnn' in name:
        mixer = 'GF 32x17' if name.startswith('horfpn_gf') else '7x7'
        assert f'HorFPN (gnConv {mixer})' in what
    elif name.startswith('horfpn'):
        mixer = 'GF 32x17' if name.startswith('horfpn_gf') else '7x7'
        assert f'GNUPerHead (gnConv {mixer})' in what and '150 classes' \
            in what
    else:
        assert 'UPerHead, auxiliary FCN head, 150 classes' in what


def test_decoder_gnconv_norm_renamed():
    record = load_json(
        osp.join(LAYOUTS,
                 'horfpn_7x7_upernet_hornet_small_7x7_512_160k_ade20k.json'))
    # the release's GNConvModule registers its SyncBN under mmcv's name
    assert 'decode_head.fpn_bottleneck.bn.weight' in record['layout']
    converted = rel.convert_dense_state_dict(
        _meta_state_dict(record['layout']))
    assert 'decode_head.fpn_bottleneck.norm.weight' in converted
    assert 'decode_head.fpn_bottleneck.bn.weight' not in converted
    # ConvModules keep mmcv's names (the same in mmcv 1.x and 2.x)
    assert 'decode_head.bottleneck.bn.weight' in converted


def test_configs_recognised_from_the_weights():
    """Without --config, the converter finds the one config that fits."""
    for name in ('cascade_mask_rcnn_hornet_tiny_gf_3x_coco_in1k',
                 'cascade_mask_rcnn_hornet_large_gf_3x_coco_in22k',
                 'upernet_hornet_small_gf_512_160k_ade20k',
                 'horfpn_gf_mask_rcnn_hornet_small_7x7_1x_coco_in1k'):
        record = load_json(osp.join(LAYOUTS, name + '.json'))
        converted = rel.convert_dense_state_dict(
            _meta_state_dict(record['layout']))
        assert rel.find_matching_configs(converted) == [RELEASED_CONFIGS[name]]


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return make_data(str(tmp_path_factory.mktemp('oracle_data')))


def _run(*cmd):
    return subprocess.run([sys.executable, *map(str, cmd)],
                          cwd=REPO,
                          capture_output=True,
                          text=True)


@pytest.mark.parametrize('name', ['cascade_small', 'gnupergf_small'])
def test_mmcv1_checkpoint_file_converts(name, data, tmp_path):
    src = osp.join(FIXTURES, name, 'checkpoint.pth')
    raw = torch.load(src, map_location='cpu', weights_only=True)
    assert raw['meta']['mmcv_version'] == '1.7.2'  # written by mmcv 1.x
    config = case_config(name, data, str(tmp_path))
    dst = tmp_path / 'converted.pth'
    result = _run(CONVERTER, src, dst, '--config', config)
    assert result.returncode == 0, result.stderr[-3000:]
    converted = torch.load(dst, map_location='cpu', weights_only=True)
    meta = converted['meta']
    classes = tuple(case_record(name)['case']['num_classes'] * [None])
    assert len(meta['dataset_meta']['classes']) == len(classes)
    assert list(meta['dataset_meta']['classes']) == list(
        raw['meta']['CLASSES'])
    if name.startswith('gnuper'):
        assert meta['dataset_meta']['palette'] == [
            tuple(p) for p in raw['meta']['PALETTE']
        ]
    assert meta['source_mmcv_version'] == '1.7.2'
    # strict load into the real (not meta) model of the config
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(config)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    model.load_state_dict(converted['state_dict'], strict=True)
    for key, value in raw['state_dict'].items():  # same numbers
        new = key.replace('.gnconv.projs.', '.gnconv.pws.').replace(
            '.gamma1.weight', '.gamma1').replace('.gamma2.weight', '.gamma2')
        new = new.replace('fpn_bottleneck.bn.', 'fpn_bottleneck.norm.')
        assert torch.equal(converted['state_dict'][new], value), key


def test_wrong_config_names_the_checkpoint_and_the_fitting_config(
        data, tmp_path):
    src = osp.join(FIXTURES, 'cascade_small', 'checkpoint.pth')
    wrong = case_config('cascade_small_gf384', data, str(tmp_path))
    dst = tmp_path / 'out.pth'
    result = _run(CONVERTER, src, dst, '--config', wrong)
    assert result.returncode == 1
    assert 'holds HorNet custom' in result.stderr
    assert 'Cascade R-CNN (3 stages, box heads 4conv1fc, mask head)' in \
        result.stderr
    assert 'GF 24x13, 12x7' in result.stderr  # what the config builds
    assert 'shape mismatches' in result.stderr or 'keys' in result.stderr
    assert not dst.exists()


def test_released_layout_into_another_size(tmp_path):
    record = load_json(
        osp.join(LAYOUTS,
                 'cascade_mask_rcnn_hornet_tiny_7x7_3x_coco_in1k.json'))
    src = tmp_path / 'released.pth'
    torch.save(
        dict(
            state_dict={
                k: torch.zeros(shape, dtype=getattr(torch, dtype))
                for k, (shape, dtype) in record['layout'].items()
            },
            meta=record['meta']), src)
    small = RELEASED_CONFIGS['cascade_mask_rcnn_hornet_small_7x7_3x_coco_in1k']
    with pytest.raises(ValueError) as err:
        rel.convert_released_model(str(src), str(tmp_path / 'out.pth'), small)
    message = str(err.value)
    assert 'holds HorNet tiny, Cascade R-CNN' in message
    assert 'builds HorNet small' in message
    tiny = RELEASED_CONFIGS['cascade_mask_rcnn_hornet_tiny_7x7_3x_coco_in1k']
    assert f'Configs that fit: [{tiny!r}]' in message
    assert not (tmp_path / 'out.pth').exists()
    # without a config, the matching one is chosen; COCO's names and palette
    meta = rel.convert_released_model(str(src), str(tmp_path / 'auto.pth'))
    assert meta['config'] == tiny
    from mmdet.datasets import CocoDataset
    assert meta['dataset_meta']['classes'] == CocoDataset.METAINFO['classes']
    assert len(meta['dataset_meta']['palette']) == 80


def test_bad_inputs(tmp_path):
    text = tmp_path / 'notes.pth'
    text.write_text('not a checkpoint')
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    result = _run(
        CONVERTER, text, tmp_path / 'a.pth', '--config',
        RELEASED_CONFIGS['cascade_mask_rcnn_hornet_tiny_7x7_3x_coco_in1k'])
    assert result.returncode == 1 and 'not a readable' in result.stderr
    result = _run(CONVERTER, empty, tmp_path / 'a.pth')
    assert result.returncode == 1 and 'empty' in result.stderr
    src = osp.join(FIXTURES, 'cascade_small', 'checkpoint.pth')
    copy = tmp_path / 'copy.pth'
    copy.write_bytes(open(src, 'rb').read())
    before = copy.read_bytes()
    result = _run(CONVERTER, copy, copy)
    assert result.returncode == 1 and 'is the source file' in result.stderr
    assert copy.read_bytes() == before
    # a meta holding an arbitrary object is refused by the safe loader
    evil = tmp_path / 'evil.pth'
    state = torch.load(src, map_location='cpu', weights_only=True)
    state['meta']['hook'] = argparse.Namespace(lr=0.1)
    torch.save(state, evil)
    result = _run(CONVERTER, evil, tmp_path / 'b.pth')
    assert result.returncode == 1
    assert 'argparse.Namespace' in result.stderr
    assert '--unsafe-load' in result.stderr
    assert not (tmp_path / 'a.pth').exists()
    assert not (tmp_path / 'b.pth').exists()
