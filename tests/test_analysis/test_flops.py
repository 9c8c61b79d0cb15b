"""FLOP counting with the global filter's FFTs: hornet_mm.analysis.flops and
tools/analysis_tools/get_flops.py."""
import os.path as osp
import subprocess
import sys
from functools import partial

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import init_default_scope

from helpers import REPO, load_tool, repo_path
from hornet_mm.analysis.flops import count_flops, release_fft_flops
from hornet_mm.models.layers import GlobalLocalFilter, LayerNorm2d

TOOL = 'tools/analysis_tools/get_flops.py'
CLS_CONFIG = osp.join('configs', 'hornet', 'hornet-tiny-gf_8xb128_in1k.py')

# name: (input size, published FLOPs (G), params (M)), HORNET_SPEC.md.
# large-gf384: the spec lists 201.23M, the count with mmpretrain 1.2.0's
# filter sizes (24, 12) and (13, 7); with the release's (24, 13) and (12, 7),
# which hornet_mm uses, the model has 201.81M parameters.
PUBLISHED = {
    'tiny': (224, 3.98, 22.41),
    'tiny-gf': (224, 3.90, 22.99),
    'small': (224, 8.83, 49.53),
    'small-gf': (224, 8.71, 50.40),
    'base': (224, 15.59, 87.26),
    'base-gf': (224, 15.42, 88.42),
    'large': (224, 34.83, 194.54),
    'large-gf': (224, 34.58, 196.29),
    'large-gf384': (384, 101.63, 201.81),
}
# The release's README (one decimal; its L 7x7 / L-GF rows are the 22k
# models and are left out).
RELEASE_README = {
    'tiny': 4.0,
    'tiny-gf': 3.9,
    'small': 8.8,
    'small-gf': 8.7,
    'base': 15.6,
    'base-gf': 15.5,
    'large-gf384': 101.8,
}
BASE_DIMS = {'tiny': 64, 'small': 96, 'base': 128, 'large': 192}


class FFTOnly(nn.Module):

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.rfft2(x, dim=(2, 3), norm='ortho')
        return torch.fft.irfft2(spec, s=x.shape[-2:], dim=(2, 3), norm='ortho')


class Mixed(nn.Module):
    """Conv with bias, a channel-first and a channels-last LN, a linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.norm_cf = LayerNorm2d(8)
        self.norm_cl = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm_cf(self.conv(x))
        x = self.norm_cl(x.permute(0, 2, 3, 1))
        return self.fc(x.mean((1, 2)))


def test_release_fft_rule_by_hand():
    # Read as (B, H, W, C): N = H * W, N * C * ceil(log2(N)), times B.
    assert release_fft_flops((1, 240, 14, 14)) == 3360 * 14 * 12
    assert release_fft_flops((1, 240, 14, 8)) == 3360 * 8 * 12
    assert release_fft_flops((3, 4, 8, 6)) == 3 * 32 * 6 * 5
    assert release_fft_flops((1, 1, 1, 9)) == 0  # N = 1: log2(1) = 0


@pytest.mark.parametrize('convention,expected', [('release', 1600),
                                                 ('mmengine', 1600),
                                                 ('published', 0)])
def test_rfft2_irfft2_by_hand(convention, expected):
    # Input (1, 4, 8, 6), read as (B, H, W, C): N = 4 * 8 = 32,
    # ceil(log2(32)) = 5. rfft2: 32 * 6 * 5 = 960. irfft2 gets the spectrum
    # (1, 4, 8, 6 // 2 + 1 = 4): 32 * 4 * 5 = 640. Total 1600.
    result = count_flops(FFTOnly(), (4, 8, 6), convention=convention)
    assert result['flops'] == expected
    assert result['fft_flops'] == expected
    assert result['unsupported_ops'] == {}
    assert result['input_shape'] == (1, 4, 8, 6)
    # The batch multiplies the count.
    assert count_flops(
        FFTOnly(), (2, 4, 8, 6),
        convention=convention)['flops'] == 2 * expected


@pytest.mark.parametrize('convention,expected', [('release', 2496),
                                                 ('mmengine', 5376),
                                                 ('published', 1296)])
def test_global_local_filter_by_hand(convention, expected):
    # GF on (1, 8, 6, 6): 3x3 depthwise conv (no bias) on 4 channels:
    # 9 * 4 * 36 = 1296. FFT half (1, 4, 6, 6): N = 4 * 6 = 24,
    # ceil(log2(24)) = 5; rfft2 24 * 6 * 5 = 720, irfft2 on (1, 4, 6, 4)
    # 24 * 4 * 5 = 480. Two channel-first LayerNorms on 8 * 36 elements, 5
    # flops each, counted only by 'mmengine': 2880.
    gf = GlobalLocalFilter(8, h=6, w=4).eval()
    result = count_flops(gf, (8, 6, 6), convention=convention)
    assert result['flops'] == expected
    assert result['fft_flops'] == (0 if convention == 'published' else 1200)
    assert result['params'] == 4 * 9 + 4 * 6 * 4 * 2 + 2 * 2 * 8


@pytest.mark.parametrize('convention,expected', [('release', 6416),
                                                 ('mmengine', 7416),
                                                 ('published', 5616)])
def test_conv_bias_and_layer_norms_by_hand(convention, expected):
    # (1, 3, 5, 5): conv 25 * 8 * 27 = 5400 multiply-adds, bias 8 * 25 = 200
    # ('published' only); each LayerNorm 5 * 200 = 1000 (channel-first:
    # 'mmengine' only; channels-last: 'release' and 'mmengine'); fc 16.
    result = count_flops(Mixed().eval(), (3, 5, 5), convention=convention)
    assert result['flops'] == expected


def test_forward_replacement_and_table():
    model = Mixed().eval()
    result = count_flops(model, (3, 5, 5), forward=model.conv, max_depth=2)
    assert result['flops'] == 5400
    assert 'forward' not in model.__dict__
    assert model(torch.rand(1, 3, 5, 5)).shape == (1, 2)
    assert 'norm_cf' in result['table'] and 'conv' in result['table']
    assert count_flops(model, (3, 5, 5))['table'] is None


def test_bad_arguments():
    with pytest.raises(ValueError, match='convention'):
        count_flops(Mixed(), (3, 5, 5), convention='fvcore')
    with pytest.raises(ValueError, match='input_shape or inputs'):
        count_flops(Mixed())
    with pytest.raises(ValueError, match='input_shape'):
        count_flops(Mixed(), (5, 5))


def _classifier(name: str) -> nn.Module:
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'models', 'hornet',
                 f'hornet-{name}.py'))
    return MODELS.build(cfg.model).eval()


def _release_fft(name: str, size: int) -> int:
    """FFT flops of a GF model under the release's rule, from the arch."""
    if '-gf' not in name:
        return 0
    total = 0
    for stage, depth, order in ((2, 18, 4), (3, 2, 5)):
        dim = BASE_DIMS[name.split('-')[0]] * 2**stage
        half = (2 * dim - dim // 2**(order - 1)) // 2
        side = size // 2**(stage + 2)
        total += depth * (
            release_fft_flops((1, half, side, side)) + release_fft_flops(
                (1, half, side, side // 2 + 1)))
    return total


@pytest.mark.parametrize('name', list(PUBLISHED))
def test_classification_models_match_published(name):
    size, flops_g, params_m = PUBLISHED[name]
    model = _classifier(name)
    # One trace of the whole classifier (tensor mode: backbone and head)
    # gives every convention.
    result = count_flops(
        model, (3, size, size), forward=partial(model.forward, mode='tensor'))
    assert abs(result['params'] / 1e6 - params_m) < 0.005

    # The published tables counted the backbone only: take the head's
    # multiply-adds (8C x 1000) away.
    head = 8 * BASE_DIMS[name.split('-')[0]] * 1000
    published = result['flops_by_convention']['published'] - head
    assert abs(published / 1e9 - flops_g) < 0.005

    # The release's convention counts the FFT, so its GF numbers exceed the
    # table (at most 0.36%: T-GF 3.914 vs 3.90); they match its README.
    release = result['flops']
    assert result['convention'] == 'release'
    assert result['fft_flops'] == _release_fft(name, size)
    assert abs(release / 1e9 / flops_g - 1) < 0.004
    if name in RELEASE_README:
        assert round(release / 1e9, 1) == RELEASE_README[name]


def test_cli_prints_figures():
    result = subprocess.run(
        [sys.executable, repo_path(TOOL), CLS_CONFIG],
        cwd=REPO,
        capture_output=True,
        text=True)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'Input shape:  (1, 3, 224, 224)' in out
    assert 'FLOPs:        3.91 G' in out
    assert 'of which FFT: 0.0169 G' in out
    assert 'Params:       22.99 M (22,991,848)' in out


def test_cli_published_convention_and_shape(capsys):
    tool = load_tool(TOOL)
    result = tool.main([
        osp.join(REPO, CLS_CONFIG), '--convention', 'published', '--shape',
        '224', '--max-depth', '1'
    ])
    out = capsys.readouterr().out
    assert 'FLOPs:        3.90 G (3,897,193,440)' in out
    assert 'extract_feat' in out and 'backbone' in out
    assert result['flops'] == 3897193440
    assert tool.input_size([256, 320], 'mmdet') == (256, 320)
    assert tool.input_size(None, 'mmdet') == (1280, 800)
    assert tool.input_size(None, 'mmseg') == (2048, 512)


def test_cli_detector(capsys):
    # A small image and few proposals keep the RoI heads cheap.
    tool = load_tool(TOOL)
    result = tool.main([
        osp.join(REPO, 'configs', 'detection',
                 'mask-rcnn_hornet-t-gf_fpn_1x_coco.py'), '--shape', '96',
        '160', '--cfg-options', 'model.test_cfg.rpn.max_per_img=20',
        'model.test_cfg.rpn.nms_pre=50'
    ])
    out = capsys.readouterr().out
    assert 'Scope:        mmdet' in out
    assert 'Input shape:  (1, 3, 96, 160)' in out
    assert result['fft_flops'] > 0 and result['flops'] > result['fft_flops']
    # mmengine's defaults add the channel-first LayerNorms.
    assert result['flops_by_convention']['mmengine'] > result['flops']


SEG_CONFIG = """
default_scope = 'mmseg'
custom_imports = dict(imports=['hornet_mm'], allow_failed_imports=False)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
        seg_pad_val=255),
    backbone=dict(type='hornet_mm.HorNet', arch='tiny-gf',
                  out_indices=(0, 1, 2, 3), gap_before_final_norm=False),
    decode_head=dict(
        type='UPerHead', in_channels=[64, 128, 256, 512],
        in_index=[0, 1, 2, 3], pool_scales=(1, 2, 3, 6), channels=64,
        dropout_ratio=0.1, num_classes=150, norm_cfg=norm_cfg,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead', in_channels=256, in_index=2, channels=32,
        num_convs=1, num_classes=150, norm_cfg=norm_cfg,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4)),
    train_cfg=dict(), test_cfg=dict(mode='whole'))
"""


def test_cli_segmentor(tmp_path, capsys):
    config = tmp_path / 'upernet_hornet-t-gf.py'
    config.write_text(SEG_CONFIG)
    tool = load_tool(TOOL)
    result = tool.main(
        [str(config), '--shape', '64', '96', '--max-depth', '1'])
    out = capsys.readouterr().out
    assert 'Scope:        mmseg' in out and 'no auxiliary head' in out
    assert result['input_shape'] == (1, 3, 64, 96)
    assert result['fft_flops'] > 0
    # The auxiliary head is neither traced nor counted in the parameters.
    assert 'decode_head' in out and 'auxiliary_head' not in out
