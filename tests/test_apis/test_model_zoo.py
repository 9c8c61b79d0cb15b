"""The model index (metafiles) and the download-and-convert command.

Downloads go to a server on 127.0.0.1 that serves a file in a released
model's layout (written by the original stack, ``tests/data/oracle/layouts``)
under the path of the release's URL; nothing reaches the internet.
"""
import functools
import http.server
import os.path as osp
import subprocess
import sys
import threading
import urllib.parse

import pytest
import torch

from helpers import REPO
from hornet_mm.apis.model_zoo import find_model, load_model_index
from oracle_cases import FIXTURES, RELEASED_CONFIGS, load_json

TOOL = osp.join(REPO, 'tools', 'model_converters', 'download_released.py')

# published results (HORNET_SPEC.md), written out independently of the
# metafiles: box / mask AP and mIoU single-scale / ms+flip
PUBLISHED_DET = {
    't': (51.7, 44.8),
    't-gf': (52.4, 45.6),
    's': (52.7, 45.6),
    's-gf': (53.3, 46.3),
    'b': (53.3, 46.1),
    'b-gf': (54.0, 46.9),
    'l': (55.4, 48.0),
    'l-gf': (56.0, 48.6)
}
PUBLISHED_SEG = {
    'tiny': (48.1, 48.9),
    'tiny-gf': (49.2, 49.3),
    'small': (49.2, 49.8),
    'small-gf': (50.0, 50.5),
    'base': (50.0, 50.5),
    'base-gf': (50.5, 50.9),
    'large': (54.1, 54.5),
    'large-gf': (55.0, 55.2)
}


def test_index_lists_every_released_checkpoint():
    models = load_model_index()
    by_name = {m['Name']: m for m in models}
    assert len(by_name) == len(models) == 9 + 8 + 8
    for model in models:
        assert osp.isfile(model['Config']), model['Config']
        assert osp.basename(model['Config']) == model['Name'] + '.py'
        url = model['Converted From']['Weights']
        assert url is None or url.startswith(
            'https://cloud.tsinghua.edu.cn/f/')
    for size, (box, mask) in PUBLISHED_DET.items():
        model = by_name[f'cascade-mask-rcnn_hornet-{size}_fpn_4conv1fc-giou_'
                        'ms-crop-3x_coco']
        metrics = [r['Metrics'] for r in model['Results']]
        assert metrics == [{'box AP': box}, {'mask AP': mask}]
        assert model['Metadata']['Epochs'] == 36
    for size, (ss, ms) in PUBLISHED_SEG.items():
        name = (f"hornet-{size.replace('-gf', '')}"
                f"{'-gf' if size.endswith('gf') else ''}")
        name = (f'{name}-in21k-pre_upernet_8xb2-160k_ade20k-640x640'
                if size.startswith('large') else
                f'{name}_upernet_8xb2-160k_ade20k-512x512')
        metrics = by_name[name]['Results'][0]['Metrics']
        assert metrics == {'mIoU': ss, 'mIoU(ms+flip)': ms}
    # each released fine-tuned model's name maps to the config it loads into
    for released, config in RELEASED_CONFIGS.items():
        if released.startswith('horfpn'):
            continue  # the decoder studies' weights were not released
        assert find_model(released)['Config'] == config


def test_unknown_and_unlinked_names():
    with pytest.raises(KeyError, match='closest'):
        find_model('cascade-mask-rcnn_hornet-t_fpn_coco')
    result = subprocess.run(
        [sys.executable, TOOL, 'hornet-base_upernet_8xb2-160k_ade20k-512x512'],
        capture_output=True,
        text=True,
        cwd=REPO)
    assert result.returncode == 1
    assert 'the release links no file' in result.stderr


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` by request path (with the query) or answers 404."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.requests.append(self.path)
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    httpd.files, httpd.requests = {}, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@functools.lru_cache(maxsize=None)
def _released_bytes(name: str, tmp: str) -> bytes:
    record = load_json(osp.join(FIXTURES, 'layouts', name + '.json'))
    gen = torch.Generator().manual_seed(0)
    state_dict = {
        k: (torch.zeros(shape, dtype=torch.int64)
            if dtype == 'int64' else torch.randn(shape, generator=gen))
        for k, (shape, dtype) in record['layout'].items()
    }
    path = osp.join(tmp, name + '.pth')
    torch.save(dict(state_dict=state_dict, meta=record['meta']), path)
    with open(path, 'rb') as f:
        return f.read()


def test_download_and_convert_by_name(server, tmp_path):
    name = 'cascade-mask-rcnn_hornet-t_fpn_4conv1fc-giou_ms-crop-3x_coco'
    url = find_model(name)['Converted From']['Weights']
    path = urllib.parse.urlsplit(url).path + '?' + urllib.parse.urlsplit(
        url).query
    body = _released_bytes('cascade_mask_rcnn_hornet_tiny_7x7_3x_coco_in1k',
                           str(tmp_path))
    server.files[path] = body
    mirror = f'http://127.0.0.1:{server.server_address[1]}'
    dest = tmp_path / 'ckpts'
    cmd = [sys.executable, TOOL, name, '--dest', dest, '--mirror', mirror]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert server.requests == [path]
    assert 'loads strictly' in result.stderr + result.stdout
    converted = torch.load(dest / f'{name}.pth', weights_only=True)
    assert converted['meta']['config'].endswith(f'{name}.py')
    assert len(converted['meta']['dataset_meta']['classes']) == 80
    released = torch.load(
        dest / 'cascade_mask_rcnn_hornet_tiny_7x7_3x_coco_in1k.pth',
        weights_only=True)
    key = 'backbone.stages.2.5.gnconv.pws.1.weight'
    assert torch.equal(converted['state_dict'][key],
                       released['state_dict'][key])
    # a second run converts the kept download without fetching again
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and server.requests == [path]


def test_download_errors_leave_nothing(server, tmp_path):
    name = 'cascade-mask-rcnn_hornet-s_fpn_4conv1fc-giou_ms-crop-3x_coco'
    mirror = f'http://127.0.0.1:{server.server_address[1]}'
    dest = tmp_path / 'ckpts'
    result = subprocess.run(
        [sys.executable, TOOL, name, '--dest', dest, '--mirror', mirror],
        capture_output=True,
        text=True,
        cwd=REPO)
    assert result.returncode == 1
    assert 'HTTP 404' in result.stderr and mirror in result.stderr
    assert not dest.exists() or list(dest.iterdir()) == []
    # a file of the wrong model: named, nothing converted
    url = find_model(name)['Converted From']['Weights']
    parts = urllib.parse.urlsplit(url)
    server.files[parts.path + '?' + parts.query] = _released_bytes(
        'cascade_mask_rcnn_hornet_tiny_7x7_3x_coco_in1k', str(tmp_path))
    result = subprocess.run(
        [sys.executable, TOOL, name, '--dest', dest, '--mirror', mirror],
        capture_output=True,
        text=True,
        cwd=REPO)
    assert result.returncode == 1
    assert 'holds HorNet tiny' in result.stderr
    assert not (dest / f'{name}.pth').exists()
