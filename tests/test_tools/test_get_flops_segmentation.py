"""UperNet FLOPs and sizes counted as the published ones were (mmcv 1.x's
hook counter on a 2048 x 512 input, auxiliary head in the parameters only),
against the published ADE20K table."""
import os.path as osp
import re
import subprocess
import sys

import pytest

from helpers import REPO

# published UperNet 160k: FLOPs (G) at 2048 x 512, params (M)
PUBLISHED = {'tiny': (926, 52), 'tiny-gf': (924, 55)}


@pytest.mark.parametrize('model', list(PUBLISHED))
def test_upernet_flops_and_params_match_published(model):
    config = osp.join(REPO, 'configs', 'segmentation',
                      f'hornet-{model}_upernet_8xb2-160k_ade20k-512x512.py')
    out = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'analysis_tools', 'get_flops.py'), config,
        '--convention', 'published'
    ],
                         capture_output=True,
                         text=True,
                         check=True).stdout
    flops, params = PUBLISHED[model]
    assert 'Input shape:  (1, 3, 2048, 512)' in out
    counted = float(re.search(r'^FLOPs:\s+([\d.]+) G', out, re.M)[1])
    assert abs(counted - flops) / flops < 0.005, counted
    with_aux = float(
        re.search(r'Params with the auxiliary head: ([\d.]+) M', out)[1])
    assert abs(with_aux - params) < 1, with_aux
    without = float(re.search(r'^Params:\s+([\d.]+) M', out, re.M)[1])
    assert without < with_aux
