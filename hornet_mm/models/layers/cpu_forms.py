"""Which formulation of the HorNet MLP runs fastest on this CPU.

The fused HorNet block computes its MLP (``pwconv1``, GELU, ``pwconv2``) on
the channels-last map in one of two ways, equal to float32 rounding:

* ``'conv'``: two 1x1 convolutions on the channels-last map (oneDNN);
* ``'linear'``: two ``F.linear`` on its ``(B, H, W, C)`` view (MKL's GEMM in
  float32, oneDNN in bfloat16).

Which is faster depends on the machine, not only on its instruction set:
oneDNN's 1x1 convolution ran the MLP's shapes about 2x faster than MKL's
float32 GEMM on an AMD EPYC (family 26, AVX-512), and about 1.15x slower on
an Intel Xeon (family 6 model 167, AVX-512 with AMX) and on the same Xeon
restricted to AVX2 (README, "Speed"). :func:`cpu_mlp_form` therefore times
both on the MLP shapes of HorNet-T's four stages (batch 2, about a second)
the first time a precision and mode (inference or training) is used, and
caches the choice on disk, keyed by the CPU (model name and flags), the
torch version and the thread count: later processes on the same machine,
a resumed run included, read it instead of timing again. The timing draws
its inputs from its own generator and leaves the global random state alone.

The depthwise 7x7 weight gradient of training (:mod:`.depthwise`) has three
forms of its own; :func:`cpu_weight_grad_form` times them the same way on the
depthwise shapes of HorNet-T's four stages at 224 x 224 (batch 4) and on a
first-stage map of a detector at 800 x 1333 (200 x 336, timed as 256 x 256,
batch 1), in float32, a few seconds once per machine, and uses, for a map of
any size, the form that was fastest at the nearest of those five map sizes.

``HORNET_MM_CPU_MLP=conv`` or ``linear`` skips the MLP timing and
``HORNET_MM_CPU_DW_WGRAD=channels_last|batched|batched_channels_last`` the
depthwise one;
``HORNET_MM_CACHE`` (default ``~/.cache/hornet_mm``) is where the choice is
kept, in ``cpu_forms.json``.
"""
import functools
import hashlib
import json
import math
import os
import os.path as osp
import platform
import statistics
import tempfile
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from .depthwise import WEIGHT_GRAD_FORMS, _compute_dtype, depthwise_weight_grad

__all__ = [
    'CPU_MLP_FORMS', 'cpu_mlp_form', 'cpu_weight_grad_form', 'cpuinfo',
    'machine_key', 'time_mlp_forms', 'time_weight_grad_forms'
]

CPU_MLP_FORMS = ('conv', 'linear')
ENV = 'HORNET_MM_CPU_MLP'
CACHE_FILE = 'cpu_forms.json'
# HorNet-T's MLP: (channels, feature size at 224, blocks in the stage)
_STAGES = ((64, 56, 2), (128, 28, 3), (256, 14, 18), (512, 7, 2))

# HorNet-T's gnConv depthwise mixers: (channels, feature size, batch) at
# 224, and a first-stage map at 800 x 1333 (the batched forms were the
# fastest at 224 on an AMD EPYC, the channels-last form at 200 x 336)
_DW_STAGES = ((96, 256, 1), (96, 56, 4), (224, 28, 4), (480, 14, 4), (992, 7,
                                                                      4))
DW_ENV = 'HORNET_MM_CPU_DW_WGRAD'

_decided: Dict[Tuple[str, str], str] = {}


def mlp(x: torch.Tensor, weight1: torch.Tensor, bias1: Optional[torch.Tensor],
        weight2: torch.Tensor, bias2: Optional[torch.Tensor], act: Callable,
        form: str) -> torch.Tensor:
    """``fc2(act(fc1(x)))`` over the channels of ``(B, C, H, W)`` ``x`` (a
    channels-last map), as 1x1 convolutions or as ``F.linear``."""
    if form == 'conv':
        y = F.conv2d(x, weight1[:, :, None, None], bias1)
        return F.conv2d(act(y), weight2[:, :, None, None], bias2)
    y = F.linear(x.permute(0, 2, 3, 1), weight1, bias1)
    return F.linear(act(y), weight2, bias2).permute(0, 3, 1, 2)


def _cache_path() -> str:
    root = os.environ.get('HORNET_MM_CACHE') or osp.join(
        os.environ.get('XDG_CACHE_HOME') or osp.expanduser('~/.cache'),
        'hornet_mm')
    return osp.join(root, CACHE_FILE)


def cpuinfo() -> Dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (``'model name'``,
    ``'cpu family'``, ``'model'``, ``'flags'``, ...); empty where there is
    no such file."""
    fields: Dict[str, str] = {}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


@functools.lru_cache(maxsize=None)
def _cpu_id() -> str:
    fields = cpuinfo()
    model, flags = fields.get('model name', ''), fields.get('flags', '')
    get_capability = getattr(torch.backends.cpu, 'get_cpu_capability',
                             lambda: 'unknown')
    digest = hashlib.sha256(flags.encode()).hexdigest()[:12]
    return (f'{model or platform.processor() or platform.machine()} '
            f'flags:{digest} torch:{torch.__version__} '
            f'isa:{get_capability()}')


def machine_key() -> str:
    """The CPU (model name and flags from ``/proc/cpuinfo``), the torch
    version and its CPU kernels' instruction set, and the thread count."""
    return f'{_cpu_id()} threads:{torch.get_num_threads()}'


def time_mlp_forms(train: bool,
                   rounds: int = 5,
                   batch: int = 2,
                   precision: torch.dtype = torch.float32) -> Dict[str, float]:
    """Seconds per HorNet-T MLP pass (the four stages, weighted by their
    block counts) for each form, median over ``rounds`` interleaved rounds
    after one warm-up, in ``precision`` (bfloat16: under CPU autocast) and
    with ``train`` (forward and backward) or without.

    The timing runs on a thread of its own, with the caller's thread count:
    none of the caller's thread-local autograd state reaches it. A
    checkpointed block (``with_cp``) decides its form inside the forward,
    where the checkpoint's saved-tensor hooks are active; timed there, the
    timing's own backward would recompute the block, which would time again,
    without end.
    """
    threads = torch.get_num_threads()
    result: Dict[str, Any] = {}

    def work() -> None:
        try:
            torch.set_num_threads(threads)
            autocast = torch.autocast(
                'cpu',
                dtype=precision,
                enabled=precision in (torch.bfloat16, torch.float16))
            with autocast, torch.set_grad_enabled(train):
                result['times'] = _time_forms(train, rounds, batch)
        except BaseException as exc:  # noqa: BLE001 - raised by the caller
            result['error'] = exc

    worker = threading.Thread(target=work, name='hornet_mm-cpu-forms')
    worker.start()
    worker.join()
    if 'error' in result:
        raise result['error']
    return result['times']


def _time_forms(train: bool, rounds: int, batch: int) -> Dict[str, float]:
    gen = torch.Generator().manual_seed(0)
    cases = []
    for channels, size, blocks in _STAGES:
        x = torch.randn(
            batch, channels, size, size,
            generator=gen).contiguous(memory_format=torch.channels_last)
        params = [
            torch.randn(4 * channels, channels, generator=gen) * 0.05,
            torch.zeros(4 * channels),
            torch.randn(channels, 4 * channels, generator=gen) * 0.05,
            torch.zeros(channels)
        ]
        if train:
            for t in [x, *params]:
                t.requires_grad_()
        cases.append((x, params, blocks))

    def one_pass(form: str) -> float:
        start = time.perf_counter()
        for x, params, blocks in cases:
            for _ in range(blocks):
                y = mlp(x, params[0], params[1], params[2], params[3], F.gelu,
                        form)
                if train:
                    y.float().sum().backward()
        return time.perf_counter() - start

    times: Dict[str, list] = {form: [] for form in CPU_MLP_FORMS}
    for i in range(rounds + 1):
        for form in CPU_MLP_FORMS if i % 2 else CPU_MLP_FORMS[::-1]:
            elapsed = one_pass(form)
            if i:
                times[form].append(elapsed)
    return {form: statistics.median(t) for form, t in times.items()}


def _read_cache(path: str) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(path: str, key: str, case: str, form: str,
                 times: Dict[str, float]) -> None:
    """Add one choice to the cache file, atomically (a temporary file
    renamed over it); a cache that cannot be written is skipped."""
    try:
        os.makedirs(osp.dirname(path), exist_ok=True)
        data = _read_cache(path)
        data.setdefault(key, {})[case] = dict(
            form=form, seconds={
                k: round(v, 6)
                for k, v in times.items()
            })
        fd, tmp = tempfile.mkstemp(dir=osp.dirname(path), suffix='.tmp')
        with os.fdopen(fd, 'w') as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass


def cpu_mlp_form(x: torch.Tensor) -> str:
    """``'conv'`` or ``'linear'``: how the fused HorNet block computes its
    MLP on ``x`` (on the CPU) in the current precision and grad mode; see
    the module's description.

    Example:
        >>> cpu_mlp_form(torch.rand(1, 8, 4, 4)) in CPU_MLP_FORMS
        True
    """
    forced = _forced_form(ENV, CPU_MLP_FORMS)
    if forced is not None:
        return forced
    train = torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    dtype = _compute_dtype(x)
    precision = str(dtype).replace('torch.', '')
    return _decide(f"{precision}-{'train' if train else 'infer'}",
                   CPU_MLP_FORMS,
                   lambda: time_mlp_forms(train, precision=dtype))


def _forced_form(env: str, forms: Tuple[str, ...]) -> Optional[str]:
    """The form the environment variable ``env`` forces, or ``None`` for
    ``auto`` (or unset); anything else is an error naming the choices."""
    setting = os.environ.get(env, 'auto').strip().lower()
    if setting in forms:
        return setting
    if setting not in ('', 'auto'):
        raise ValueError(f'{env}={setting!r}: expected one of '
                         f"{', '.join(forms)} or auto")
    return None


def _decide(case: str, forms: Tuple[str, ...],
            timing: Callable[[], Dict[str, float]]) -> str:
    """This machine's choice among ``forms`` for ``case``: remembered in the
    process, else read from the cache file, else the fastest of
    ``timing()``, which is then written to the cache."""
    memo = (machine_key(), case)
    form = _decided.get(memo)
    if form is not None:
        return form
    path = _cache_path()
    entry = _read_cache(path).get(memo[0], {}).get(case, {})
    form = entry.get('form') if isinstance(entry, dict) else None
    if form not in forms:
        times = timing()
        form = min(times, key=times.get)
        _write_cache(path, memo[0], case, form, times)
    _decided[memo] = form
    return form


def time_weight_grad_forms(channels: int,
                           size: int,
                           rounds: int = 3,
                           batch: int = 4) -> Dict[str, float]:
    """Seconds per 7x7 depthwise weight gradient of ``batch`` channels-last
    float32 ``channels x size x size`` maps for each of
    :data:`~.depthwise.WEIGHT_GRAD_FORMS`, median over ``rounds`` interleaved
    rounds after one warm-up; inputs from a generator of its own."""
    gen = torch.Generator().manual_seed(0)
    x, grad = (
        torch.randn(
            batch, channels, size, size,
            generator=gen).contiguous(memory_format=torch.channels_last)
        for _ in range(2))
    shape = (channels, 1, 7, 7)
    times: Dict[str, list] = {form: [] for form in WEIGHT_GRAD_FORMS}
    with torch.no_grad():
        for i in range(rounds + 1):
            order = WEIGHT_GRAD_FORMS if i % 2 else WEIGHT_GRAD_FORMS[::-1]
            for form in order:
                start = time.perf_counter()
                depthwise_weight_grad(x, grad, shape, (3, 3), form)
                if i:
                    times[form].append(time.perf_counter() - start)
    return {form: statistics.median(t) for form, t in times.items()}


def cpu_weight_grad_form(map_size: int) -> str:
    """The :data:`~.depthwise.WEIGHT_GRAD_FORMS` entry the depthwise weight
    gradient uses for maps of ``map_size`` (``H * W``) pixels on this CPU:
    the one timed fastest at the nearest (in ratio) of five map sizes of
    HorNet-T (see the module's description), timed once per machine and
    cached with the MLP's choice.

    Example:
        >>> cpu_weight_grad_form(14 * 14) in WEIGHT_GRAD_FORMS
        True
    """
    forced = _forced_form(DW_ENV, WEIGHT_GRAD_FORMS)
    if forced is not None:
        return forced
    channels, size, batch = min(
        _DW_STAGES,
        key=lambda stage: abs(math.log(max(map_size, 1) / stage[1]**2)))
    return _decide(f'dw7x7-weight-grad-{size}x{size}', WEIGHT_GRAD_FORMS,
                   lambda: time_weight_grad_forms(channels, size, batch=batch))
