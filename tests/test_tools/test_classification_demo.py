"""The classification pipeline end to end, and the inference CLI on bad
input."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from helpers import REPO

CONFIG = osp.join(REPO, 'configs', 'hornet', 'hornet-tiny-gf_8xb128_in1k.py')


@pytest.fixture(scope='module')
def pipeline(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('cls_demo')
    work_dir = tmp / 'work'
    result = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'demo', 'classification_pipeline.py'),
        '--work-dir',
        str(work_dir), '--data-root',
        str(tmp / 'data')
    ],
                            capture_output=True,
                            text=True,
                            cwd=REPO)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return work_dir, result.stdout


def test_pipeline_trains_evaluates_and_predicts(pipeline):
    work_dir, stdout = pipeline
    for name in ('train/epoch_40.pth', 'metrics.json', 'metrics_tta.json',
                 'predictions_nano.json', 'hornet_tiny_gf_release_layout.pth',
                 'hornet-tiny-gf_in1k.pth', 'demo.jpg',
                 'predictions_release.json'):
        assert (work_dir / name).is_file(), name
    top1 = json.loads((work_dir / 'metrics.json').read_text())
    assert top1['accuracy/top1'] > 60.0  # chance: 12.5%
    assert 'all equal to the source' in stdout
    assert '  tiny-gf           22.99      22.99' in stdout

    nano = json.loads((work_dir / 'predictions_nano.json').read_text())
    assert [osp.basename(osp.dirname(p['image']))
            for p in nano] == ['circle', 'vertical_stripes', 'dots']
    for prediction in nano:
        scores = [score for _, _, score in prediction['topk']]
        assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    release = json.loads((work_dir / 'predictions_release.json').read_text())
    assert all(
        isinstance(name, str) and name for _, name, _ in release[0]['topk'])


def test_inference_cli_on_bad_images(pipeline, tmp_path):
    work_dir, _ = pipeline
    checkpoint = str(work_dir / 'hornet-tiny-gf_in1k.pth')
    corrupt = tmp_path / 'corrupt.jpg'
    corrupt.write_bytes(b'\xff\xd8\xff\xe0 definitely not a jpeg')
    for bad, message in [(corrupt, 'Cannot decode image'),
                         (tmp_path / 'missing.jpg', 'not found')]:
        result = subprocess.run([
            sys.executable,
            osp.join(REPO, 'tools', 'inference.py'),
            str(bad), '--config', CONFIG, '--checkpoint', checkpoint
        ],
                                capture_output=True,
                                text=True,
                                cwd=REPO)
        assert result.returncode == 1
        assert message in result.stderr and str(bad) in result.stderr
