"""Speed and memory measurement of HorNet next to the models it is compared
with (``tools/analysis_tools/benchmark.py`` is the command line).

* :func:`build_classifier`: the classifiers compared by ``--compare``:
  hornet_mm's HorNet, the same model computing the plain formulation
  (``HorNet(fused=False)``: every block written out module by module, the
  baseline it is timed against; same weights) and timm's ConvNeXt-T, each
  with a 1000-class linear head.
* :class:`Case` and :func:`run_cases`: steps timed interleaved (one step of
  every case per round), so that machine noise hits all cases alike;
  :func:`peak_memory` measures one extra step of a case.
* :func:`summarize`, :func:`format_results` and :func:`format_ratios`: the
  printed tables.

Peak memory is the peak of tensor memory allocated during one step above
what was allocated before it: ``torch.cuda.max_memory_allocated`` on CUDA;
on the CPU the allocations recorded by ``torch.profiler`` (``profile_memory``),
or, where those cannot be read, the peak resident set size sampled every
millisecond from ``/proc/self/statm`` (or psutil).
"""
import math
import os
import platform
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

__all__ = [
    'build_classifier', 'COMPARE_MODELS', 'Case', 'run_cases', 'peak_memory',
    'summarize', 'format_results', 'format_ratios', 'synchronize',
    'cpu_description'
]

# ---------------------------------------------------------------------------
# Classifiers compared
# ---------------------------------------------------------------------------

#: Names accepted by :func:`build_classifier` (``--compare`` order).
COMPARE_MODELS: Tuple[str, ...] = ('hornet_mm', 'plain', 'convnext_t')


class _PooledClassifier(nn.Module):
    """A backbone returning pooled features, then a linear head."""

    def __init__(self, backbone: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.dims[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x)[-1])


def build_classifier(name: str,
                     arch: Union[str, dict] = 'tiny',
                     num_classes: int = 1000,
                     drop_path_rate: float = 0.,
                     with_cp: bool = False) -> nn.Module:
    """One of :data:`COMPARE_MODELS`, initialised at random.

    ``hornet_mm`` and ``plain`` are HorNet ``arch`` with a pooled LayerNorm
    and a linear head (the released classifier); ``convnext_t`` is timm's
    ``convnext_tiny`` (``ImportError`` without timm). ``with_cp`` applies to
    ``hornet_mm`` only.
    """
    if name in ('hornet_mm', 'plain'):
        from hornet_mm.models.backbones.hornet import HorNet
        return _PooledClassifier(
            HorNet(
                arch,
                drop_path_rate=drop_path_rate,
                with_cp=with_cp and name == 'hornet_mm',
                fused=name == 'hornet_mm'), num_classes)
    if name == 'convnext_t':
        import timm
        return timm.create_model(
            'convnext_tiny',
            pretrained=False,
            num_classes=num_classes,
            drop_path_rate=drop_path_rate)
    raise ValueError(f'Unknown model {name!r}; choose from {COMPARE_MODELS}')


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing on the CPU."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def cpu_description() -> str:
    """The CPU as benchmarks print it: model name, family and model numbers
    (``/proc/cpuinfo``), the instruction set torch's CPU kernels use, and
    the AVX-512 / AMX extensions present.

    Example:
        >>> cpu_description()  # doctest: +SKIP
        'AMD EPYC, family 25 model 1, ISA AVX2'
    """
    from hornet_mm.models.layers.cpu_forms import cpuinfo
    fields = cpuinfo()
    name = (
        fields.get('model name') or platform.processor() or platform.machine())
    parts = [name]
    if 'cpu family' in fields:
        parts.append(f"family {fields['cpu family']} model "
                     f"{fields.get('model', '?')}")
    get_capability = getattr(torch.backends.cpu, 'get_cpu_capability', None)
    isa = f'ISA {get_capability()}' if get_capability else 'ISA unknown'
    flags = set(fields.get('flags', '').split())
    extras = [
        label for flag, label in (('avx512f', 'avx512'), ('avx512_bf16',
                                                          'avx512_bf16'),
                                  ('amx_tile', 'amx')) if flag in flags
    ]
    if extras:
        isa += f" ({', '.join(extras)})"
    parts.append(isa)
    return ', '.join(parts)


@dataclass
class Case:
    """One measured configuration: a label, its settings and a step.

    ``step()`` runs one iteration (inference forward, or forward + backward
    + optimizer step) and waits for the device. ``settings`` are the columns
    that identify the case besides its model (mode, precision, ...); cases
    with equal settings are compared in :func:`format_ratios`. ``rebuild``,
    where given, makes an eager step for a compiled case whose compilation
    fails.
    """
    model: str
    settings: Dict[str, Any]
    batch_size: int
    step: Callable[[], None]
    device: torch.device = torch.device('cpu')
    note: str = ''
    rebuild: Optional[Callable[[], Callable[[], None]]] = None
    warmup_s: List[float] = field(default_factory=list)
    times_s: List[float] = field(default_factory=list)
    peak_mem: Optional[int] = None
    error: Optional[str] = None


def run_cases(
        cases: List[Case],
        warmup: int,
        repeats: int,
        on_error: Optional[Callable[[Case, BaseException],
                                    bool]] = None) -> None:
    """Warm every case up, then time ``repeats`` rounds of one step each.

    Warm-up runs case by case (``warmup`` steps each, each timed into
    ``case.warmup_s``; a compiled model compiles in its first). The timed
    rounds interleave the cases: round ``r`` runs case 1, 2, ..., n once, so
    that slow phases of a shared machine fall on all cases. A case whose
    step raises gets ``case.error`` and is dropped from the rounds, unless
    ``on_error(case, exc)`` repairs it (returns True), in which case its
    warm-up starts over.
    """
    for case in cases:
        while True:
            try:
                case.warmup_s = []
                for _ in range(max(warmup, 1)):
                    start = time.perf_counter()
                    case.step()
                    case.warmup_s.append(time.perf_counter() - start)
                break
            except Exception as exc:  # noqa: BLE001 - reported per case
                if on_error is not None and on_error(case, exc):
                    continue
                case.error = f'{type(exc).__name__}: {exc}'
                break
    live = [case for case in cases if case.error is None]
    for _ in range(repeats):
        for case in live:
            start = time.perf_counter()
            case.step()
            case.times_s.append(time.perf_counter() - start)


class _RssSampler:
    """Peak resident set size above the start, sampled every millisecond."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self.base = self.peak = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _rss() -> int:
        try:
            import psutil
            return psutil.Process().memory_info().rss
        except ImportError:
            with open('/proc/self/statm') as f:
                return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.001)

    def __enter__(self) -> '_RssSampler':
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def _profiled_cpu_peak(step: Callable[[], None]) -> Optional[int]:
    """Peak of CPU tensor memory allocated during ``step`` (bytes), from the
    allocation records of ``torch.profiler``; None where those cannot be
    read."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as p:
        step()
    try:
        events = p.profiler.kineto_results.events()
        records = sorted(
            (e.start_ns(), e.nbytes()) for e in events
            if e.name() == '[memory]' and str(e.device_type()).endswith('CPU'))
    except (AttributeError, RuntimeError, TypeError):
        return None
    if not records:
        return None
    current = peak = 0
    for _, nbytes in records:
        current += nbytes
        peak = max(peak, current)
    return peak


#: How :func:`peak_memory` measures, by device type, for the printed header.
MEMORY_METHODS: Dict[str, str] = {
    'cuda':
    'torch.cuda.max_memory_allocated during one step, minus '
    'memory_allocated before it',
    'cpu':
    'peak of CPU tensor allocations during one step, from '
    'torch.profiler(profile_memory=True) (fallback: peak RSS growth '
    'sampled every 1 ms)',
}


def peak_memory(case: Case) -> Tuple[Optional[int], str]:
    """Run one more step of ``case``; return its peak memory above what was
    allocated before it (bytes) and how it was measured."""
    device = case.device
    if device.type == 'cuda':
        synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        case.step()
        return torch.cuda.max_memory_allocated(device) - before, 'cuda'
    if device.type == 'cpu':
        peak = _profiled_cpu_peak(case.step)
        if peak is not None:
            return peak, 'profiler'
        with _RssSampler() as sampler:
            case.step()
        return sampler.peak - sampler.base, 'rss'
    return None, 'n/a'


# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize(case: Case) -> Dict[str, Any]:
    """Median, min, max, IQR (ms), img/s at the median, warm-up (s)."""
    times = case.times_s
    row: Dict[str, Any] = dict(case.settings, model=case.model)
    row.update(batch=case.batch_size, note=case.note or case.error or '')
    if case.error is not None or not times:
        return row
    median = statistics.median(times)
    row.update(
        median_ms=median * 1e3,
        min_ms=min(times) * 1e3,
        max_ms=max(times) * 1e3,
        iqr_ms=(_quantile(times, 0.75) - _quantile(times, 0.25)) * 1e3,
        img_s=case.batch_size / median,
        warmup_first_s=case.warmup_s[0] if case.warmup_s else float('nan'),
        warmup_total_s=sum(case.warmup_s),
        repeats=len(times))
    if case.peak_mem is not None:
        row['peak_mem_mib'] = case.peak_mem / 2**20
    return row


def _table(header: List[str], rows: List[List[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
        for i, h in enumerate(header)
    ]

    def line(cells: List[str]) -> str:
        return '| ' + ' | '.join(c.ljust(w)
                                 for c, w in zip(cells, widths)) + ' |'

    rule = '|' + '|'.join('-' * (w + 2) for w in widths) + '|'
    return '\n'.join([line(header), rule] + [line(r) for r in rows])


SETTING_KEYS: Tuple[str,
                    ...] = ('mode', 'precision', 'channels_last', 'compile')


def format_results(cases: List[Case],
                   keys: Sequence[str] = SETTING_KEYS,
                   unit: str = 'img/s') -> str:
    """One row per case: timings over the repeats, throughput, memory.

    ``keys`` are the settings shown as columns; ``unit`` heads the
    throughput column (``batch_size`` items per step).
    """
    header = [
        'model', *keys, 'batch', 'median ms', 'min ms', 'max ms', 'IQR ms',
        unit, 'warm-up s', 'peak MiB', 'note'
    ]
    rows = []
    for case in cases:
        s = summarize(case)
        settings = [str(s.get(k, '')) for k in keys]
        if 'median_ms' not in s:
            rows.append([case.model, *settings,
                         str(case.batch_size)] + ['-'] * 7 + [s['note']])
            continue
        mem = s.get('peak_mem_mib')
        rows.append([
            case.model, *settings,
            str(case.batch_size), f'{s["median_ms"]:.1f}',
            f'{s["min_ms"]:.1f}', f'{s["max_ms"]:.1f}', f'{s["iqr_ms"]:.1f}',
            f'{s["img_s"]:.2f}',
            f'{s["warmup_first_s"]:.2f} / {s["warmup_total_s"]:.2f}',
            '-' if mem is None else f'{mem:.0f}', s['note']
        ])
    return _table(header, rows)


def _ratio_cell(case: Case, ref: Case) -> str:
    """Throughput of ``case`` over ``ref``'s: ratio of the medians, the
    min-max of the per-round ratios (the rounds are interleaved) and the
    ratio of the fastest steps (noise on a shared machine only ever adds
    time, so the best of the rounds is the least disturbed)."""
    if case.error or ref.error or not case.times_s or not ref.times_s:
        return '-'
    ratio = statistics.median(ref.times_s) / statistics.median(case.times_s)
    rounds = [r / c for r, c in zip(ref.times_s, case.times_s)]
    best = min(ref.times_s) / min(case.times_s)
    return (f'{ratio:.2f} ({min(rounds):.2f}-{max(rounds):.2f}), '
            f'best {best:.2f}')


def format_ratios(cases: List[Case],
                  reference: str,
                  keys: Sequence[str] = SETTING_KEYS) -> str:
    """Throughput ratios against ``reference``, per setting.

    One row per setting (the values of ``keys``: mode, precision,
    channels-last, compile by default), one column per model: its img/s
    over ``reference``'s img/s in the same setting, as ``median (min-max
    over rounds), best R`` with R the ratio of the fastest steps.
    """
    models = list(dict.fromkeys(case.model for case in cases))
    groups: Dict[Tuple, Dict[str, Case]] = {}
    for case in cases:
        key = tuple(case.settings.get(k) for k in keys)
        groups.setdefault(key, {})[case.model] = case
    header = list(keys) + [f'{m} / {reference}' for m in models]
    rows = []
    for key, by_model in groups.items():
        ref = by_model.get(reference)
        cells = [str(k) for k in key]
        for model in models:
            case = by_model.get(model)
            cells.append(
                '-' if case is None or ref is None else _ratio_cell(case, ref))
        rows.append(cells)
    return _table(header, rows)
