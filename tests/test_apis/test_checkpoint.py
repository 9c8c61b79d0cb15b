"""Checkpoint conversion: layouts, parity with the reference, errors.

Official-layout checkpoints are produced by ``tests/reference_hornet.py`` (a
plain formulation of the equations written from the spec, not by exporting
our model), and our model must reproduce that formulation's outputs.
"""
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

import reference_hornet as ref
from helpers import REPO
from hornet_mm.apis import (classify_images, convert_checkpoint,
                            export_official_state_dict, load_checkpoint_file)
from hornet_mm.apis.checkpoint import check_destination
from hornet_mm.engine.resume import CheckpointError
from hornet_mm.models import (HorNet, convert_hornet_state_dict,
                              unwrap_checkpoint)

CONVERTER = osp.join(REPO, 'tools', 'model_converters', 'hornet_to_mm.py')


def _to_mmpretrain_layout(official: dict) -> dict:
    """mmpretrain's naming, written out from the spec's description."""
    out = {}
    for key, value in official.items():
        if key.startswith('head.'):
            out['head.fc.' + key[len('head.'):]] = value
            continue
        if key.startswith('norm.'):
            key = 'norm3.' + key[len('norm.'):]
        key = key.replace('.gnconv.pws.', '.gnconv.projs.')
        if key.endswith(('.gamma1', '.gamma2')):
            key += '.weight'
        out['backbone.' + key] = value
    return out


def _load_model(converted: dict, arch: str) -> HorNet:
    model = HorNet(
        arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False).eval()
    backbone = {
        k[len('backbone.'):]: v
        for k, v in converted.items() if k.startswith('backbone.')
    }
    backbone.pop('norm3.weight'), backbone.pop('norm3.bias')
    missing, unexpected = model.load_state_dict(backbone, strict=False)
    assert unexpected == []
    assert sorted(missing) == sorted(f'norm{i}.{w}' for i in range(4)
                                     for w in ('weight', 'bias'))
    return model


def _classify(converted: dict, arch: str, x: torch.Tensor) -> torch.Tensor:
    model = HorNet(arch).eval()
    backbone = {
        k[len('backbone.'):]: v
        for k, v in converted.items() if k.startswith('backbone.')
    }
    model.load_state_dict(backbone, strict=True)
    (pooled, ) = model(x)
    return torch.nn.functional.linear(pooled, converted['head.fc.weight'],
                                      converted['head.fc.bias'])


@pytest.mark.parametrize('arch,size', [('tiny', 224), ('tiny-gf', 224),
                                       ('base-gf384', 384)])
def test_converted_official_checkpoint_reproduces_reference(arch, size):
    official = ref.make_official_state_dict(arch, seed=1)
    x = torch.randn(
        1, 3, size, size, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        expected = ref.reference_forward(official, x, arch)
        converted = convert_hornet_state_dict(official)
        logits = _classify(converted, arch, x)
        stages = []
        model = HorNet(
            arch, out_indices=(0, 1, 2, 3),
            gap_before_final_norm=False).eval()
        model.load_state_dict(
            {
                k[len('backbone.'):]: v
                for k, v in converted.items() if k.startswith('backbone.')
                and not k.startswith('backbone.norm3')
            },
            strict=False)
        hooks = [
            stage.register_forward_hook(lambda m, a, out: stages.append(out))
            for stage in model.stages
        ]
        model(x)
        for hook in hooks:
            hook.remove()
    assert logits.abs().max() > 0.1  # a meaningful comparison
    torch.testing.assert_close(logits, expected['logits'], rtol=0, atol=1e-4)
    for ours, theirs in zip(stages, expected['stages']):
        scale = theirs.abs().max().item()
        assert (ours - theirs).abs().max().item() <= 1e-4 * max(1.0, scale)


def test_gf_checkpoint_of_other_filter_size_is_resized_on_load():
    """224 filters (14x8, 7x4) loaded into base-gf384, run at 384: the
    reference resizes in the forward pass, our model at load time."""
    official = ref.make_official_state_dict('base-gf', seed=3)
    x = torch.randn(1, 3, 384, 384, generator=torch.Generator().manual_seed(4))
    converted = convert_hornet_state_dict(official)
    with torch.inference_mode():
        expected = ref.reference_forward(official, x, 'base-gf')['logits']
        logits = _classify(converted, 'base-gf384', x)
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-4)


def test_mmpretrain_layout_converts_to_the_same_dict():
    official = ref.make_official_state_dict('tiny-gf', seed=5)
    from_official = convert_hornet_state_dict(official)
    from_mmpretrain = convert_hornet_state_dict(
        _to_mmpretrain_layout(official))
    assert from_official.keys() == from_mmpretrain.keys()
    for key, value in from_official.items():
        assert torch.equal(value, from_mmpretrain[key]), key
    assert 'backbone.stages.3.1.gnconv.pws.3.weight' in from_official
    assert 'backbone.stages.0.0.gamma1' in from_official
    assert 'head.fc.weight' in from_official and 'backbone.norm3.bias' in \
        from_official


def test_conversion_is_idempotent_and_round_trips():
    official = ref.make_official_state_dict('tiny', seed=6)
    once = convert_hornet_state_dict(official)
    twice = convert_hornet_state_dict(once)
    assert list(once) == list(twice)
    assert all(once[k] is twice[k] for k in once)
    back = export_official_state_dict(once)
    assert back.keys() == official.keys()
    ddp = convert_hornet_state_dict({
        'module.' + k: v
        for k, v in official.items()
    })
    assert ddp.keys() == once.keys()


def test_unwrap_checkpoint_wrappers():
    sd = {'a': torch.zeros(1)}
    ema = {'a': torch.ones(1)}
    assert unwrap_checkpoint(sd) is sd
    assert unwrap_checkpoint({'model': sd, 'epoch': 3}) is sd
    assert unwrap_checkpoint({'state_dict': sd, 'meta': {}}) is sd
    assert unwrap_checkpoint({'model': sd, 'model_ema': ema}) is sd
    assert unwrap_checkpoint({
        'model': sd,
        'model_ema': ema
    }, use_ema=True) is ema
    with pytest.raises(ValueError, match='no model_ema'):
        unwrap_checkpoint({'model': sd}, use_ema=True)


def _run_converter(*args, cwd=None):
    return subprocess.run([sys.executable, CONVERTER, *map(str, args)],
                          capture_output=True,
                          text=True,
                          cwd=cwd)


@pytest.mark.parametrize('wrapper', ['model', 'model_ema', 'state_dict', None])
def test_cli_converts_wrapped_checkpoints(tmp_path, wrapper):
    official = ref.make_official_state_dict('tiny-gf', seed=7)
    src = tmp_path / 'hornet_tiny_gf.pth'
    payload = official if wrapper is None else {wrapper: official}
    if wrapper == 'model_ema':
        payload['model'] = ref.make_official_state_dict('tiny-gf', seed=8)
    torch.save(payload, src)
    dst = tmp_path / 'out' / 'hornet-tiny-gf.pth'
    args = [src, dst] + (['--ema'] if wrapper == 'model_ema' else [])
    result = _run_converter(*args)
    assert result.returncode == 0, result.stderr
    written = torch.load(dst, map_location='cpu', weights_only=True)
    assert set(written) == {'state_dict', 'meta'}
    assert written['meta']['arch'] == 'tiny-gf'
    assert written['meta']['num_classes'] == 1000
    assert len(written['meta']['dataset_meta']['classes']) == 1000
    expected = convert_hornet_state_dict(official)
    assert written['state_dict'].keys() == expected.keys()
    assert all(
        torch.equal(written['state_dict'][k], v) for k, v in expected.items())
    # converting the converted file changes nothing
    again = tmp_path / 'again.pth'
    assert _run_converter(dst, again).returncode == 0
    again_sd = torch.load(again, weights_only=True)['state_dict']
    assert all(torch.equal(again_sd[k], v) for k, v in expected.items())


def test_cli_errors_leave_nothing_behind(tmp_path):
    dst = tmp_path / 'out.pth'
    result = _run_converter(tmp_path / 'missing.pth', dst)
    assert result.returncode == 1 and 'not found' in result.stderr

    corrupt = tmp_path / 'corrupt.pth'
    torch.save({'model': ref.make_official_state_dict('tiny')}, corrupt)
    data = corrupt.read_bytes()
    corrupt.write_bytes(data[:len(data) // 3])
    result = _run_converter(corrupt, dst)
    assert result.returncode == 1 and 'corrupt' in result.stderr

    other = tmp_path / 'resnet.pth'
    torch.save({'conv1.weight': torch.zeros(64, 3, 7, 7)}, other)
    result = _run_converter(other, dst)
    assert result.returncode == 1 and 'Not a HorNet' in result.stderr

    broken = ref.make_official_state_dict('tiny')
    broken['stages.1.0.pwconv1.weight'] = torch.zeros(7, 128)
    torch.save(broken, tmp_path / 'broken.pth')
    result = _run_converter(tmp_path / 'broken.pth', dst)
    assert result.returncode == 1
    assert 'stages.1.0.pwconv1.weight' in result.stderr
    assert '(7, 128)' in result.stderr and '(512, 128)' in result.stderr

    assert not dst.exists()
    assert sorted(os.listdir(tmp_path)) == sorted(
        ['broken.pth', 'corrupt.pth', 'resnet.pth'])


def test_cli_keeps_existing_output_on_failure(tmp_path):
    dst = tmp_path / 'keep.pth'
    dst.write_bytes(b'previous result')
    torch.save({'x': torch.zeros(1)}, tmp_path / 'bad.pth')
    assert _run_converter(tmp_path / 'bad.pth', dst).returncode == 1
    assert dst.read_bytes() == b'previous result'


def test_unsafe_objects_are_refused_unless_asked(tmp_path):
    import argparse
    path = tmp_path / 'with_args.pth'
    torch.save(
        {
            'model': ref.make_official_state_dict('tiny'),
            'args': argparse.Namespace(lr=1.0)
        }, path)
    with pytest.raises(ValueError, match='argparse.Namespace'):
        load_checkpoint_file(str(path))
    meta = convert_checkpoint(
        str(path), str(tmp_path / 'ok.pth'), unsafe_load=True)
    assert meta['arch'] == 'tiny'


def test_pretrained_init_cfg_with_prefix(tmp_path):
    official = ref.make_official_state_dict('tiny-gf', seed=9)
    dst = tmp_path / 'hornet-tiny-gf.pth'
    convert_checkpoint(_save(official, tmp_path / 'src.pth'), str(dst))
    model = HorNet(
        'tiny-gf',
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        init_cfg=dict(
            type='Pretrained', checkpoint=str(dst), prefix='backbone.'))
    model.init_weights()
    torch.testing.assert_close(
        model.stages[2][5].gnconv.dwconv.complex_weight.detach(),
        official['stages.2.5.gnconv.dwconv.complex_weight'])
    torch.testing.assert_close(model.stages[3][1].gamma2.detach(),
                               official['stages.3.1.gamma2'])


def _save(obj, path) -> str:
    torch.save(obj, path)
    return str(path)


def test_cli_names_a_file_that_is_not_a_checkpoint(tmp_path):
    for text in ('hello world\n', 'epoch_1.pth\n'):  # KeyError, IndexError
        src = tmp_path / 'notes.pth'
        src.write_text(text)
        result = _run_converter(src, tmp_path / 'out.pth')
        assert result.returncode == 1, result.stderr
        assert (f'{src} is not a readable checkpoint: the file is not a '
                'PyTorch checkpoint') in result.stderr, result.stderr
        assert 'Traceback' not in result.stderr
    assert sorted(os.listdir(tmp_path)) == ['notes.pth']


def test_cli_refuses_to_write_over_its_source(tmp_path, monkeypatch):
    work_dir = tmp_path / 'work_dirs' / 'run'
    work_dir.mkdir(parents=True)
    src = work_dir / 'epoch_1.pth'  # a training checkpoint
    torch.save(
        {
            'state_dict':
            convert_hornet_state_dict(ref.make_official_state_dict('tiny')),
            'optimizer': {
                'state': {},
                'param_groups': []
            },
            'meta': {
                'epoch': 1
            }
        }, src)
    before = src.read_bytes()
    (tmp_path / 'link.pth').symlink_to(src)
    monkeypatch.chdir(tmp_path)
    # relative against absolute, through `..`, through a link
    for dst in ('work_dirs/run/epoch_1.pth', tmp_path / 'work_dirs' / '..' /
                'work_dirs' / 'run' / 'epoch_1.pth', tmp_path / 'link.pth'):
        with pytest.raises(ValueError) as err:
            check_destination(str(src), str(dst))
        assert f'destination {dst} is the source file {src}' in str(err.value)
    result = _run_converter(src, 'work_dirs/run/epoch_1.pth', cwd=tmp_path)
    assert result.returncode == 1
    assert (f'destination work_dirs/run/epoch_1.pth is the source file {src}'
            in result.stderr), result.stderr
    assert src.read_bytes() == before
    assert sorted(os.listdir(work_dir)) == ['epoch_1.pth']


def test_unusable_files_are_named_by_every_loader(tmp_path):
    """mmengine's local loader (``load_from``, ``--resume``, ``init_cfg``,
    the inferencers) and :func:`load_checkpoint_file` name the file and
    what is wrong with it."""
    from mmengine.runner.checkpoint import CheckpointLoader
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    text = tmp_path / 'notes.pth'
    text.write_text('hello world\n')
    truncated = tmp_path / 'truncated.pth'
    torch.save({'state_dict': {'w': torch.zeros(1000)}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:2000])
    cases = [(empty, 'is empty'), (text, 'is not a PyTorch checkpoint'),
             (truncated, 'is truncated or corrupt')]
    for path, problem in cases:
        with pytest.raises(
                CheckpointError,
                match='^Checkpoint ' + re.escape(f'{path} {problem}')):
            CheckpointLoader.load_checkpoint(str(path))
        with pytest.raises(ValueError) as err:
            load_checkpoint_file(str(path))
        assert str(path) in str(err.value) and problem in str(err.value)
    image = tmp_path / 'image.png'
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    nano = osp.join(REPO, 'configs', 'hornet',
                    'hornet-nano_1xb32_synthetic-in8.py')
    with pytest.raises(CheckpointError, match=re.escape(f'{empty} is empty')):
        classify_images([str(image)], nano, str(empty))
