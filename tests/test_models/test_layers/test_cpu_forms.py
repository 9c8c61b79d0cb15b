"""The per-machine choice of the HorNet MLP's CPU formulation.

Both forms are checked against an ``nn.Linear`` MLP written out here; the
choice is the faster of the two timings, made once per machine and case,
kept on disk, and leaves the global random state alone.
"""
import json

import pytest
import torch
import torch.nn as nn

from hornet_mm.models.layers import CPU_MLP_FORMS, cpu_forms, cpu_mlp_form


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('HORNET_MM_CACHE', str(tmp_path))
    monkeypatch.delenv(cpu_forms.ENV, raising=False)
    monkeypatch.delenv(cpu_forms.DW_ENV, raising=False)
    monkeypatch.setattr(cpu_forms, '_decided', {})
    return tmp_path / cpu_forms.CACHE_FILE


@pytest.mark.parametrize('form', CPU_MLP_FORMS)
def test_both_forms_equal_the_linear_layers(form):
    gen = torch.Generator().manual_seed(0)
    fc1, fc2 = nn.Linear(24, 96), nn.Linear(96, 24)
    x = torch.randn(
        2, 24, 5, 7,
        generator=gen).contiguous(memory_format=torch.channels_last)
    expected = fc2(nn.functional.gelu(fc1(x.permute(0, 2, 3, 1))))
    out = cpu_forms.mlp(x, fc1.weight, fc1.bias, fc2.weight, fc2.bias,
                        nn.functional.gelu, form)
    assert out.shape == x.shape
    torch.testing.assert_close(
        out, expected.permute(0, 3, 1, 2), rtol=1e-5, atol=1e-5)


def test_the_faster_form_is_chosen_and_kept(cache, monkeypatch):
    calls = []

    def fake_timing(train, precision):
        assert precision == torch.float32
        calls.append(train)
        return dict(
            conv=0.3, linear=0.2) if train else dict(
                conv=0.1, linear=0.4)

    monkeypatch.setattr(cpu_forms, 'time_mlp_forms', fake_timing)
    x = torch.rand(1, 8, 3, 3)
    with torch.inference_mode():
        assert cpu_mlp_form(x) == 'conv'
        assert cpu_mlp_form(x) == 'conv'
    assert cpu_mlp_form(x) == 'linear'  # grad enabled: training
    assert calls == [False, True]  # each case timed once

    data = json.loads(cache.read_text())
    (entry, ) = data.values()
    assert entry['float32-infer'] == dict(
        form='conv', seconds=dict(conv=0.1, linear=0.4))
    assert entry['float32-train']['form'] == 'linear'
    assert list(data) == [cpu_forms.machine_key()]

    # a new process (an empty memo) reads the file instead of timing
    monkeypatch.setattr(cpu_forms, '_decided', {})
    with torch.no_grad():
        assert cpu_mlp_form(x) == 'conv'
    assert cpu_mlp_form(x) == 'linear'
    assert calls == [False, True]

    # another thread count is another machine key: timed again
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1 if threads > 1 else 2)
        assert cpu_mlp_form(x) == 'linear'
    finally:
        torch.set_num_threads(threads)
    assert calls == [False, True, True]


def test_bf16_autocast_is_its_own_case(cache, monkeypatch):
    cases = []
    monkeypatch.setattr(
        cpu_forms, 'time_mlp_forms', lambda train, precision: cases.append(
            (train, precision)) or dict(conv=0.1, linear=0.2))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert cpu_mlp_form(torch.rand(1, 8, 3, 3)) == 'conv'
    assert cases == [(True, torch.bfloat16)]
    (entry, ) = json.loads(cache.read_text()).values()
    assert list(entry) == ['bfloat16-train']


def test_environment_overrides_and_rejects_unknown(cache, monkeypatch):
    monkeypatch.setattr(cpu_forms, 'time_mlp_forms',
                        lambda *a, **k: pytest.fail('timed despite override'))
    x = torch.rand(1, 8, 3, 3)
    for form in CPU_MLP_FORMS:
        monkeypatch.setenv(cpu_forms.ENV, form)
        assert cpu_mlp_form(x) == form
    monkeypatch.setenv(cpu_forms.ENV, 'gemm')
    with pytest.raises(ValueError, match='HORNET_MM_CPU_MLP=.gemm.'):
        cpu_mlp_form(x)
    assert not cache.exists()


def test_unwritable_or_corrupt_cache_still_decides(tmp_path, monkeypatch):
    blocker = tmp_path / 'file'
    blocker.write_text('not a directory')
    monkeypatch.setenv('HORNET_MM_CACHE', str(blocker / 'sub'))
    monkeypatch.delenv(cpu_forms.ENV, raising=False)
    monkeypatch.delenv(cpu_forms.DW_ENV, raising=False)
    monkeypatch.setattr(cpu_forms, '_decided', {})
    monkeypatch.setattr(cpu_forms, 'time_mlp_forms',
                        lambda train, precision: dict(conv=0.2, linear=0.1))
    assert cpu_mlp_form(torch.rand(1, 8, 3, 3)) == 'linear'

    corrupt = tmp_path / 'c'
    corrupt.mkdir()
    (corrupt / cpu_forms.CACHE_FILE).write_text('{"truncated": ')
    monkeypatch.setenv('HORNET_MM_CACHE', str(corrupt))
    monkeypatch.setattr(cpu_forms, '_decided', {})  # as in a new process
    assert cpu_mlp_form(torch.rand(1, 8, 3, 3)) == 'linear'
    # rewritten whole
    data = json.loads((corrupt / cpu_forms.CACHE_FILE).read_text())
    assert list(data) == [cpu_forms.machine_key()]


def test_real_timing_keeps_the_global_random_state():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    times = cpu_forms.time_mlp_forms(train=True, rounds=1, batch=1)
    assert set(times) == set(CPU_MLP_FORMS)
    assert all(t > 0 for t in times.values())
    assert torch.equal(torch.get_rng_state(), state)


def test_timing_inside_a_checkpointed_forward(cache, monkeypatch):
    """A checkpointed block (with_cp) decides its form in its forward, where
    the checkpoint's saved-tensor hooks are active: the timing's backward
    must not recompute the block (which would time again, without end)."""
    monkeypatch.setattr(cpu_forms, '_STAGES', ((8, 4, 1), ))
    fc1, fc2 = nn.Linear(8, 32), nn.Linear(32, 8)
    decided = []

    def block(x):
        form = cpu_mlp_form(x)
        decided.append(form)
        return cpu_forms.mlp(x, fc1.weight, fc1.bias, fc2.weight, fc2.bias,
                             nn.functional.gelu, form)

    x = torch.randn(
        2, 8, 3,
        3).contiguous(memory_format=torch.channels_last).requires_grad_()
    for reentrant in (False, True):
        monkeypatch.setattr(cpu_forms, '_decided', {})
        if cache.exists():
            cache.unlink()
        out = torch.utils.checkpoint.checkpoint(
            block, x, use_reentrant=reentrant)
        out.sum().backward()
        (entry, ) = json.loads(cache.read_text()).values()
        # one forward and one recompute (HorNet's with_cp: non-reentrant),
        # the recompute with the same form; a reentrant checkpoint runs its
        # forward without grad, which is the inference case
        forward_case = 'float32-train' if not reentrant else 'float32-infer'
        assert decided == [
            entry[forward_case]['form'], entry['float32-train']['form']
        ]
        if not reentrant:
            assert decided[0] == decided[1]
        decided.clear()


def test_timing_runs_in_the_callers_precision_and_thread_count():
    seen = []
    real = cpu_forms.mlp

    def spy(x, *args):
        y = real(x, *args)
        seen.append(
            (y.dtype, torch.is_grad_enabled(), torch.get_num_threads()))
        return y

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        cpu_forms.mlp = spy
        cpu_forms.time_mlp_forms(
            train=False, rounds=1, batch=1, precision=torch.bfloat16)
    finally:
        cpu_forms.mlp = real
        torch.set_num_threads(threads)
    assert seen and set(seen) == {(torch.bfloat16, False, 1)}


def test_weight_grad_form_follows_the_nearest_stage_and_is_kept(
        cache, monkeypatch):
    calls = []
    fastest = {
        256: 'channels_last',
        56: 'batched_channels_last',
        28: 'batched',
        14: 'batched',
        7: 'channels_last'
    }

    def fake_timing(channels, size, batch):
        calls.append(size)
        times = dict(channels_last=0.3, batched=0.3, batched_channels_last=0.3)
        times[fastest[size]] = 0.1
        return times

    monkeypatch.setattr(cpu_forms, 'time_weight_grad_forms', fake_timing)
    assert cpu_forms.cpu_weight_grad_form(56 * 56) == 'batched_channels_last'
    assert cpu_forms.cpu_weight_grad_form(80 * 56) == 'batched_channels_last'
    assert cpu_forms.cpu_weight_grad_form(200 * 336) == 'channels_last'
    assert cpu_forms.cpu_weight_grad_form(30 * 26) == 'batched'
    assert cpu_forms.cpu_weight_grad_form(7 * 7) == 'channels_last'
    assert cpu_forms.cpu_weight_grad_form(3 * 2) == 'channels_last'
    assert cpu_forms.cpu_weight_grad_form(1) == 'channels_last'
    assert calls == [56, 256, 28, 7]  # each stage's size timed once
    (entry, ) = json.loads(cache.read_text()).values()
    assert entry['dw7x7-weight-grad-28x28']['form'] == 'batched'

    # a later process reads the choice instead of timing again
    monkeypatch.setattr(cpu_forms, '_decided', {})
    assert cpu_forms.cpu_weight_grad_form(28 * 28) == 'batched'
    assert calls == [56, 256, 28, 7]


def test_weight_grad_form_environment_overrides_and_rejects_unknown(
        cache, monkeypatch):
    monkeypatch.setattr(cpu_forms, 'time_weight_grad_forms',
                        lambda *args: pytest.fail('timed despite override'))
    monkeypatch.setenv(cpu_forms.DW_ENV, 'batched')
    assert cpu_forms.cpu_weight_grad_form(14 * 14) == 'batched'
    monkeypatch.setenv(cpu_forms.DW_ENV, 'fastest')
    with pytest.raises(ValueError, match='HORNET_MM_CPU_DW_WGRAD'):
        cpu_forms.cpu_weight_grad_form(14 * 14)


def test_weight_grad_real_timing_times_every_form():
    times = cpu_forms.time_weight_grad_forms(8, 7, rounds=1, batch=1)
    assert set(times) == set(cpu_forms.WEIGHT_GRAD_FORMS)
    assert all(t > 0 for t in times.values())
