"""The main job end to end, and the inference CLI on bad input."""
import json
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'hornet', 'hornet-tiny-gf_8xb128_in1k.py')


@pytest.fixture(scope='module')
def quickstart(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('quickstart')
    result = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'demo', 'quickstart.py'), '--work-dir',
        str(work_dir)
    ],
                            capture_output=True,
                            text=True,
                            cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    return work_dir, result.stdout


def test_quickstart_writes_everything(quickstart):
    work_dir, stdout = quickstart
    for name in ('hornet_tiny_gf_release_layout.pth',
                 'hornet-tiny-gf_in1k.pth', 'demo.jpg', 'predictions.json'):
        assert (work_dir / name).is_file(), name
    assert 'all equal to the source' in stdout
    predictions = json.loads((work_dir / 'predictions.json').read_text())
    topk = predictions[0]['topk']
    assert len(topk) == 5
    scores = [score for _, _, score in topk]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 1 for s in scores)
    assert all(isinstance(name, str) and name for _, name, _ in topk)
    assert '  tiny-gf           22.99      22.99' in stdout


def test_inference_cli_on_bad_images(quickstart, tmp_path):
    work_dir, _ = quickstart
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
