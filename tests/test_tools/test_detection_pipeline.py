"""The main job end to end: COCO-format data, Mask R-CNN training, pycocotools
evaluation and prediction pictures; and the demo on bad input."""
import json
import os.path as osp
import subprocess
import sys

import cv2
import pytest

from helpers import REPO

pytestmark = pytest.mark.long  # see setup.cfg

CONFIG = osp.join(REPO, 'configs', 'detection',
                  'mask-rcnn_hornet-nano_fpn_1xb4-12e_synthetic-coco.py')


@pytest.fixture(scope='module')
def pipeline(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('det_pipeline')
    result = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'demo', 'detection_pipeline.py'), '--work-dir',
        str(tmp / 'work'), '--data-root',
        str(tmp / 'data')
    ],
                            capture_output=True,
                            text=True,
                            cwd=REPO)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return tmp / 'work', result.stdout


def test_main_job_reaches_clearly_positive_map(pipeline):
    work_dir, stdout = pipeline
    metrics = json.loads((work_dir / 'metrics.json').read_text())
    # seed 0 on 2 CPU cores gives bbox 0.063 / segm 0.076
    assert metrics['coco/bbox_mAP'] > 0.03
    assert metrics['coco/segm_mAP'] > 0.03
    assert 'bbox: mAP' in stdout and 'segm: mAP' in stdout


def test_main_job_writes_pictures(pipeline):
    work_dir, _ = pipeline
    results = json.loads((work_dir / 'pictures' / 'results.json').read_text())
    assert len(results) == 4
    assert sum(len(r['instances']) for r in results) > 0
    names = {'circle', 'rectangle', 'triangle', 'cross'}
    for result in results:
        picture = cv2.imread(result['picture'])
        source = cv2.imread(result['image'])
        assert picture is not None and picture.shape == source.shape
        assert all(inst['label'] in names for inst in result['instances'])
    drawn = [r for r in results if r['instances']]
    # boxes and masks change the pixels
    assert (cv2.imread(drawn[0]['picture'])
            != cv2.imread(drawn[0]['image'])).any()


def test_demo_on_bad_images(pipeline, tmp_path):
    work_dir, _ = pipeline
    corrupt = tmp_path / 'corrupt.jpg'
    corrupt.write_bytes(b'')
    result = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'demo', 'image_demo.py'),
        str(corrupt), CONFIG, '--weights',
        str(work_dir / 'train' / 'epoch_12.pth'), '--out-dir',
        str(tmp_path / 'out')
    ],
                            capture_output=True,
                            text=True,
                            cwd=REPO)
    assert result.returncode == 1
    assert 'corrupt.jpg' in result.stderr
