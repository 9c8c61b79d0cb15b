"""tools/analysis_tools/benchmark.py and its baseline.

The plain formulation the tool times HorNet against (``HorNet(fused=False)``)
must compute the reference equations (``tests/reference_hornet.py``); the
tool's printed tables must have their fields. No timing is asserted.
"""
import os.path as osp
import re

import pytest
import torch

import reference_hornet as ref
from helpers import REPO, load_tool
from hornet_mm.analysis.benchmark import (Case, format_ratios, run_cases,
                                          summarize)
from hornet_mm.models import HorNet, convert_hornet_state_dict
from small_hornet import SMALL, SMALL_REF

TOOL = 'tools/analysis_tools/benchmark.py'
NANO_DET = osp.join(REPO, 'configs', 'detection',
                    'mask-rcnn_hornet-nano_fpn_1xb4-12e_synthetic-coco.py')

try:
    import timm  # noqa: F401
    HAS_TIMM = True
except ImportError:
    HAS_TIMM = False


def _backbone_weights(official):
    converted = convert_hornet_state_dict(official)
    return {
        k[len('backbone.'):]: v
        for k, v in converted.items() if k.startswith('backbone.')
    }


@pytest.mark.parametrize('arch,ref_arch,size', [(SMALL, SMALL_REF, 64),
                                                (SMALL, SMALL_REF, 72),
                                                ('tiny-gf', 'tiny-gf', 64)])
def test_plain_formulation_equals_reference(arch, ref_arch, size):
    official = ref.make_official_state_dict(ref_arch, seed=2)
    x = torch.randn(
        2, 3, size, size + 16, generator=torch.Generator().manual_seed(1))
    expected = ref.reference_forward(official, x, ref_arch)
    weights = _backbone_weights(official)

    plain = HorNet(arch, fused=False).eval()
    plain.load_state_dict(weights, strict=True)
    with torch.no_grad():
        (pooled, ) = plain(x)
    torch.testing.assert_close(pooled, expected['pooled'], rtol=0, atol=1e-5)
    logits = torch.nn.functional.linear(pooled, official['head.weight'],
                                        official['head.bias'])
    torch.testing.assert_close(logits, expected['logits'], rtol=0, atol=1e-5)

    # dense outputs: each stage through its channel-first norm
    dense = HorNet(
        arch,
        out_indices=(0, 1, 2, 3),
        gap_before_final_norm=False,
        fused=False).eval()
    norms = {}
    for i, dim in enumerate(dense.dims):
        norms[f'norm{i}.weight'] = torch.linspace(0.5, 1.5, dim)
        norms[f'norm{i}.bias'] = torch.linspace(-0.1, 0.1, dim)
    dense_weights = {
        k: v
        for k, v in weights.items() if not k.startswith('norm3.')
    }
    dense.load_state_dict(dict(dense_weights, **norms), strict=True)
    with torch.no_grad():
        outs = dense(x)
    for i, (out, stage) in enumerate(zip(outs, expected['stages'])):
        want = ref.layer_norm_cf(stage, norms[f'norm{i}.weight'],
                                 norms[f'norm{i}.bias'])
        scale = max(1.0, want.abs().max().item())
        torch.testing.assert_close(out, want, rtol=0, atol=1e-5 * scale)


def test_summary_and_ratios_of_known_times():
    fast = Case('a', dict(mode='infer'), 4, step=lambda: None)
    slow = Case('b', dict(mode='infer'), 4, step=lambda: None)
    fast.times_s = [0.1, 0.2, 0.1, 0.1]
    slow.times_s = [0.2, 0.2, 0.3, 0.2]
    fast.warmup_s = [1.0, 0.5]
    row = summarize(fast)
    assert row['median_ms'] == pytest.approx(100)
    assert row['min_ms'] == pytest.approx(100)
    assert row['max_ms'] == pytest.approx(200)
    assert row['iqr_ms'] == pytest.approx(25)
    assert row['img_s'] == pytest.approx(40)
    assert row['warmup_first_s'] == 1.0 and row['warmup_total_s'] == 1.5
    table = format_ratios([fast, slow], reference='b')
    # median ratio 0.2 / 0.1; per-round 1.0 .. 3.0; fastest 0.2 / 0.1
    assert '2.00 (1.00-3.00), best 2.00' in table
    assert '1.00 (1.00-1.00), best 1.00' in table


def test_run_cases_interleaves_and_repairs_failed_cases():
    calls = []

    def failing():
        raise RuntimeError('backend exploded')

    cases = [
        Case('a', {}, 1, step=lambda: calls.append('a')),
        Case('b', dict(compile='on'), 1, step=failing),
        Case('c', {}, 1, step=failing),
    ]

    def repair(case, exc):
        if case.model != 'b':
            return False
        case.step = lambda: calls.append('b')
        case.note = 'eager'
        return True

    run_cases(cases, warmup=1, repeats=3, on_error=repair)
    assert calls == ['a', 'b'] + ['a', 'b'] * 3
    assert cases[2].error == 'RuntimeError: backend exploded'
    assert len(cases[0].times_s) == len(cases[1].times_s) == 3
    assert cases[2].times_s == []


def _table_rows(out, first_header):
    """Rows (lists of cells) of the markdown table under ``first_header``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith(first_header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith('|'):
            break
        rows.append([c.strip() for c in line.strip('|').split('|')])
    header = [c.strip() for c in lines[start].strip('|').split('|')]
    return header, rows


def test_tool_compare_prints_results_and_ratios(capsys):
    tool = load_tool(TOOL)
    tool.main([
        '--arch', 'tiny', '--compare', '--batch-size', '1', '--shape', '32',
        '--warmup', '1', '--repeats', '1', '--modes', 'infer', 'train',
        '--threads', '2'
    ])
    out = capsys.readouterr().out
    assert f'torch {torch.__version__}' in out
    assert 'torch threads: 2' in out
    assert 'device: cpu' in out and 'CPU: ' in out and ', ISA ' in out
    assert 'peak memory: ' in out and 'warm-up 1 steps' in out
    models = ['hornet_mm', 'plain'] + (['convnext_t'] if HAS_TIMM else [])

    header, rows = _table_rows(out, '| model ')
    assert header == [
        'model', 'mode', 'precision', 'channels_last', 'compile', 'batch',
        'median ms', 'min ms', 'max ms', 'IQR ms', 'img/s', 'warm-up s',
        'peak MiB', 'note'
    ]
    assert sorted((r[0], r[1]) for r in rows) == sorted(
        (m, mode) for m in models for mode in ('infer', 'train'))
    for row in rows:
        assert row[2:6] == ['fp32', 'off', 'off', '1']
        median, low, high, iqr, img_s = map(float, row[6:11])
        assert 0 < low <= median <= high and iqr >= 0 and img_s > 0
        assert re.fullmatch(r'[\d.]+ / [\d.]+', row[11])
        assert float(row[12]) >= 0

    header, rows = _table_rows(out, '| mode ')
    assert header == ['mode', 'precision', 'channels_last', 'compile'
                      ] + [f'{m} / plain' for m in models]
    assert [r[0] for r in rows] == ['infer', 'train']
    for row in rows:
        assert row[header.index('plain / plain')] == \
            '1.00 (1.00-1.00), best 1.00'
        for cell in row[4:]:
            assert re.fullmatch(
                r'\d+\.\d\d \(\d+\.\d\d-\d+\.\d\d\), best \d+\.\d\d', cell)
    assert 'process max RSS' in out


def test_tool_times_onnxruntime_next_to_pytorch(capsys):
    """The exported GF classifier in ONNX Runtime, interleaved with the
    PyTorch model; training and bf16 cases have no ONNX Runtime row."""
    tool = load_tool(TOOL)
    cases = tool.main([
        '--arch', 'tiny-gf', '--models', 'hornet_mm', 'onnxruntime',
        '--batch-size', '2', '--shape', '64', '--warmup', '1', '--repeats',
        '2', '--modes', 'infer', 'train', '--no-memory'
    ])
    out = capsys.readouterr().out
    assert sorted((c.model, c.settings['mode'])
                  for c in cases) == [('hornet_mm', 'infer'),
                                      ('hornet_mm', 'train'),
                                      ('onnxruntime', 'infer')]
    ort_case = next(c for c in cases if c.model == 'onnxruntime')
    assert ort_case.error is None and len(ort_case.times_s) == 2
    assert ort_case.note == 'ONNX Runtime CPU'
    header, rows = _table_rows(out, '| mode ')
    assert header[-1] == 'onnxruntime / hornet_mm'
    infer = next(r for r in rows if r[0] == 'infer')
    assert re.fullmatch(
        r'\d+\.\d\d \(\d+\.\d\d-\d+\.\d\d\), best '
        r'\d+\.\d\d', infer[-1])


def test_tool_compile_failure_falls_back_to_eager(capsys):
    tool = load_tool(TOOL)
    cases = tool.main([
        '--arch', 'tiny', '--batch-size', '1', '--shape', '32', '--warmup',
        '1', '--repeats', '1', '--compile', 'on', '--compile-backend',
        'no_such_backend', '--no-memory'
    ])
    out = capsys.readouterr().out
    (case, ) = cases
    assert case.error is None and len(case.times_s) == 1
    assert 'compile failed' in case.note and 'eager' in case.note
    _, rows = _table_rows(out, '| model ')
    assert rows[0][4] == 'on' and 'compile failed' in rows[0][-1]
    assert rows[0][12] == '-'  # --no-memory


def test_tool_detection_config_infer_and_train_bf16(capsys):
    tool = load_tool(TOOL)
    cases = tool.main([
        NANO_DET, '--shape', '64', '96', '--batch-size', '1', '--warmup', '1',
        '--repeats', '1', '--modes', 'infer', 'train', '--precision', 'bf16',
        '--cfg-options', 'model.train_cfg.rpn_proposal.nms_pre=100',
        'model.test_cfg.rpn.nms_pre=100'
    ])
    out = capsys.readouterr().out
    assert [c.error for c in cases] == [None, None]
    assert 'input: batch 1 x 3 x 64 x 96' in out
    _, rows = _table_rows(out, '| model ')
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ('mask-rcnn_hornet-nano_fpn_1xb4-12e_synthetic-coco', mode, 'bf16')
        for mode in ('infer', 'train')
    ]


def test_tool_arguments():
    tool = load_tool(TOOL)
    with pytest.raises(SystemExit):
        tool.parse_args([])
    with pytest.raises(SystemExit):
        tool.parse_args(['--arch', 'tiny', NANO_DET])
    with pytest.raises(SystemExit):
        tool.parse_args([NANO_DET, '--compare'])
    assert tool.input_shape(None, 'mmdet') == (800, 1333)
    assert tool.input_shape([96], 'arch') == (96, 96)
    path = tool.resolve_config('mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py')
    assert osp.isfile(path)
    with pytest.raises(FileNotFoundError):
        tool.resolve_config('mmdet::no/such_config.py')


ROI_TOOL = 'tools/analysis_tools/benchmark_roi_align.py'


def test_roi_align_tool_checks_agreement_then_times(capsys):
    tool = load_tool(ROI_TOOL)
    assert tool.main([
        '--shapes', 'main-job', '--warmup', '0', '--repeats', '1', '--threads',
        '2'
    ]) == 0
    out = capsys.readouterr().out
    assert 'CPU: ' in out and 'ISA ' in out and '2 threads' in out
    for branch in ('7x7', '14x14'):
        assert re.search(
            rf'main-job {branch}: outputs and gradients agree '
            rf'\(max \|diff\| [\d.e-]+\)', out)
    header, rows = _table_rows(out, '| model ')
    assert header[:5] == ['model', 'mode', 'shape', 'branch', 'batch']
    assert 'RoIs/s' in header
    # 256 box RoIs at 7x7 and 64 mask RoIs at 14x14, both modes, both ops
    assert sorted((r[0], r[1], r[3], r[4]) for r in rows) == sorted(
        (m, mode, branch, count) for m in ('hornet_mm', 'mmcv')
        for mode in ('forward', 'train')
        for branch, count in (('7x7', '256'), ('14x14', '64')))
    header, rows = _table_rows(out, '| mode ')
    assert header == [
        'mode', 'shape', 'branch', 'mmcv / mmcv', 'hornet_mm / mmcv'
    ]
    assert len(rows) == 4
    for row in rows:
        assert row[3] == '1.00 (1.00-1.00), best 1.00'


def test_roi_align_tool_refuses_disagreeing_extractors(monkeypatch):
    """A wrong fast path is reported, not timed."""
    tool = load_tool(ROI_TOOL)
    from hornet_mm.models.layers import roi_align as module
    real = module.roi_align_gather

    def off_by_one_percent(*args, **kwargs):
        return real(*args, **kwargs) * 1.01

    monkeypatch.setattr(module, 'roi_align_gather', off_by_one_percent)
    with pytest.raises(SystemExit, match='the extractors disagree by'):
        tool.main(['--shapes', 'main-job', '--modes', 'forward'])


def test_cpu_description_names_family_and_isa(monkeypatch, tmp_path):
    from hornet_mm.analysis import benchmark
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\nvendor_id\t: GenuineIntel\n'
                    'cpu family\t: 6\nmodel\t\t: 167\n'
                    'model name\t: Intel Xeon\n'
                    'flags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n\n'
                    'processor\t: 1\ncpu family\t: 6\n')
    real_open = open

    def fake_open(path, *args, **kwargs):
        return real_open(info if path == '/proc/cpuinfo' else path, *args,
                         **kwargs)

    monkeypatch.setattr('builtins.open', fake_open)
    monkeypatch.setattr(torch.backends.cpu, 'get_cpu_capability',
                        lambda: 'AVX512')
    assert benchmark.cpu_description() == (
        'Intel Xeon, family 6 model 167, ISA AVX512 (avx512, avx512_bf16, '
        'amx)')
    info.write_text('model name\t: AMD EPYC\ncpu family\t: 25\n'
                    'model\t\t: 1\nflags\t\t: fpu avx avx2\n')
    monkeypatch.setattr(torch.backends.cpu, 'get_cpu_capability',
                        lambda: 'AVX2')
    assert benchmark.cpu_description() == (
        'AMD EPYC, family 25 model 1, ISA AVX2')
