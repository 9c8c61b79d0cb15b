"""The segmentation pipeline end to end, shortened: ADE20K-format data,
UperNet training, single-scale and ms+flip mIoU, coloured overlays; and the
gnConv-head variant with --amp."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from helpers import REPO
from hornet_mm.datasets.synthetic import ADE_STYLE_PALETTE

pytestmark = pytest.mark.long  # see setup.cfg

SCRIPT = osp.join(REPO, 'tools', 'demo', 'segmentation_pipeline.py')


def _pipeline(tmp, data_root, *args):
    result = subprocess.run([
        sys.executable, SCRIPT, '--work-dir',
        str(tmp / 'work'), '--data-root',
        str(data_root), *args
    ],
                            capture_output=True,
                            text=True,
                            cwd=REPO)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    summary = json.loads((tmp / 'work' / 'summary.json').read_text())
    return summary, result.stdout


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp('seg_pipeline') / 'data'


@pytest.fixture(scope='module')
def upernet(data_root):
    run = data_root.parent / 'uper'
    run.mkdir()
    return _pipeline(run, data_root, '--iters', '600')


def test_upernet_learns_far_above_chance(upernet):
    summary, stdout = upernet
    # the mIoU of uniformly random labels on the generated set, from its
    # class frequencies: about 6.3
    assert 5 < summary['chance_mIoU'] < 8
    # seed 0, 600 iterations: see README for the full-length figures
    assert summary['single-scale/mIoU'] > 4 * summary['chance_mIoU']
    assert summary['ms+flip/mIoU'] > 4 * summary['chance_mIoU']
    assert summary['single-scale/aAcc'] > 80
    assert 'single-scale mIoU' in stdout and 'ms+flip' in stdout


def test_overlays_are_coloured_by_class(upernet, data_root):
    """mmseg draws ground truth | prediction side by side, blending the
    class colours (palette of the generated set) into the image."""
    summary, _ = upernet
    folder = summary['overlays']
    names = sorted(os.listdir(folder))
    assert len(names) == 60  # every validation image
    for name in names[:5]:
        stem = name[len('test_'):].split('.')[0]
        label = cv2.imread(
            osp.join(data_root, 'annotations', 'validation', stem + '.png'),
            cv2.IMREAD_UNCHANGED)
        picture = cv2.imread(osp.join(folder, name))[..., ::-1]
        height, width = label.shape
        assert picture.shape == (height, 2 * width, 3)
        pred = picture[:, width:].reshape(-1, 3).astype(np.int64)
        # sky and ground cover most of every scene: their colours dominate
        for colour in ADE_STYLE_PALETTE[:2]:
            near = np.abs(pred - np.array(colour)).sum(1) < 90
            assert near.mean() > 0.2, (name, colour, near.mean())


def test_gnconv_head_with_amp(upernet, data_root):
    root = data_root.parent
    (root / 'gnuper').mkdir()
    summary, stdout = _pipeline(root / 'gnuper', data_root, '--head', 'gnuper',
                                '--iters', '150', '--amp', '--no-tta')
    assert summary['head'] == 'gnuper'
    assert summary['single-scale/mIoU'] > 2 * summary['chance_mIoU']
    log = (root / 'gnuper' / 'work' / 'train.log').read_text()
    assert 'GNUPerHead' in log
    assert 'bfloat16 autocast on the CPU' in log
