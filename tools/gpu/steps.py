"""What the steps of ``tools/gpu/gpu_run.py`` run, one sub-command each.

* ``env --json F``: the machine and the versions (Python, torch, CUDA,
  cuDNN, nvcc, the GPU, the OpenMMLab packages);
* ``mmcv-check --json F``: mmcv imports with its compiled ops, and ``nms``
  and ``roi_align`` run on the GPU;
* ``bench --json F -- ARGS``: ``tools/analysis_tools/benchmark.py ARGS``,
  its per-case results (``hornet_mm.analysis.benchmark.summarize``) written
  to ``F``; exits 1 when no case was measured;
* ``dry-check PLAN RESULT``: on the CPU, without timing anything, what a
  step's command would build: the benchmark's arguments parse, every
  classifier is built and runs one forward on a 64 x 64 image (a forward
  and backward on 32 x 32 where activation checkpointing is on), every
  config's model is built and a 64 x 96 synthetic batch goes through its
  data preprocessor, the training config loads as an iteration-based loop
  and its model builds.

Example::

    python tools/gpu/steps.py bench --json /tmp/t.json -- --arch tiny \\
        --device cuda --batch-size 128 --modes train --precision bf16
"""
import argparse
import importlib.util
import json
import math
import os
import os.path as osp
import platform
import shutil
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BENCHMARK = osp.join(REPO, 'tools', 'analysis_tools', 'benchmark.py')
PACKAGES = ('mmcv', 'mmcv-lite', 'mmengine', 'mmdet', 'mmsegmentation',
            'mmpretrain', 'numpy', 'timm', 'setuptools', 'pycocotools')


def _load_benchmark():
    spec = importlib.util.spec_from_file_location('hornet_mm_gpu_benchmark',
                                                  BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _write(path: str, data: Any) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(_finite(data), f, indent=1, allow_nan=False)


def _first_line(cmd: List[str]) -> Optional[str]:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[-1].strip() if out else None


# ---------------------------------------------------------------------------
# env, mmcv-check
# ---------------------------------------------------------------------------


def env_info() -> Dict[str, Any]:
    from importlib import metadata

    import torch
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    machine: Dict[str, Any] = dict(
        platform=platform.platform(),
        cpu=cpu,
        cpu_count=os.cpu_count(),
        python=platform.python_version(),
        gpu=None)
    versions: Dict[str, Any] = dict(
        torch=torch.__version__,
        cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version()
        if torch.backends.cudnn.is_available() else None,
        nvcc=_first_line(['nvcc', '--version']),
        driver=_first_line([
            'nvidia-smi', '--query-gpu=driver_version', '--format=csv,noheader'
        ]))
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        machine['gpu'] = dict(
            name=props.name,
            memory_gib=round(props.total_memory / 2**30, 1),
            capability=f'{props.major}.{props.minor}',
            multiprocessors=props.multi_processor_count,
            count=torch.cuda.device_count())
    return dict(machine=machine, versions=versions)


def mmcv_check() -> Dict[str, Any]:
    import mmcv
    import torch
    from mmcv.ops import nms, roi_align
    boxes = torch.tensor(
        [[0., 0., 10., 10.], [1., 1., 11., 11.], [50., 50., 60., 60.]],
        device='cuda')
    scores = torch.tensor([0.9, 0.8, 0.7], device='cuda')
    _, keep = nms(boxes, scores, 0.5)
    feats = torch.rand(1, 8, 32, 32, device='cuda')
    rois = torch.tensor([[0., 2., 2., 20., 20.]], device='cuda')
    pooled = roi_align(feats, rois, (7, 7), 1.0, 2, 'avg', True)
    if keep.tolist() != [0, 2] or tuple(pooled.shape) != (1, 8, 7, 7):
        raise RuntimeError(f'mmcv ops gave keep={keep.tolist()}, '
                           f'roi_align {tuple(pooled.shape)}')
    return dict(mmcv=mmcv.__version__, ops='cuda', path=mmcv.__file__)


# ---------------------------------------------------------------------------
# bench
# ---------------------------------------------------------------------------


def bench(json_path: str, argv: List[str]) -> int:
    from hornet_mm.analysis.benchmark import summarize
    tool = _load_benchmark()
    start = time.time()
    cases = tool.main(argv)
    rows = [summarize(case) for case in cases]
    for row, case in zip(rows, cases):
        row['error'] = case.error
    _write(json_path,
           dict(argv=argv, seconds=round(time.time() - start, 1), rows=rows))
    measured = [c for c in cases if c.error is None and c.times_s]
    return 0 if measured else 1


# ---------------------------------------------------------------------------
# dry-check
# ---------------------------------------------------------------------------


def _params_m(model) -> float:
    return round(sum(p.numel() for p in model.parameters()) / 1e6, 2)


def check_benchmark(spec: Dict[str, Any]) -> str:
    """Parse the arguments and build what the benchmark would time."""
    import torch
    tool = _load_benchmark()
    args = tool.parse_args(spec['argv'])
    if args.device != 'cuda':
        raise ValueError(f'--device is {args.device!r}, the run is on cuda')
    notes = []
    if args.arch:
        from hornet_mm.analysis.benchmark import (COMPARE_MODELS,
                                                  build_classifier)
        names = args.models or (COMPARE_MODELS if args.compare else
                                ('hornet_mm', ))
        for name in names:
            model = build_classifier(
                name,
                args.arch,
                drop_path_rate=args.drop_path_rate,
                with_cp=args.with_cp)
            if args.with_cp:
                x = torch.randn(1, 3, 32, 32)
                model.train()
                logits = model(x)
                logits.sum().backward()
            else:
                with torch.no_grad():
                    logits = model.eval()(torch.randn(1, 3, 64, 64))
            notes.append(f'{name} {args.arch}: {_params_m(model)}M, logits '
                         f'{tuple(logits.shape)}')
        return '; '.join(notes)
    for path in args.configs:
        model, scope, _ = tool.build_config_model(path, args.cfg_options)
        batch = tool.synthetic_batch(model, scope, 1, 64, 96, args.seed)
        with torch.no_grad():
            data = model.data_preprocessor(batch, training=True)
        notes.append(f'{osp.basename(path)}: {type(model).__name__} '
                     f'({scope}) {_params_m(model)}M, batch '
                     f'{tuple(data["inputs"].shape)}')
    return '; '.join(notes)


def check_train_config(spec: Dict[str, Any]) -> str:
    """The training config loads, loops 100 iterations and its model (with
    SyncBN in the mask head) builds."""
    import torch.nn as nn
    from mmengine.registry import init_default_scope

    from hornet_mm.utils.cli import load_config
    cfg = load_config(spec['config'])
    loop = cfg.train_cfg
    if loop.get('type') != 'IterBasedTrainLoop' or loop.get(
            'max_iters') != spec['max_iters']:
        raise ValueError(f'train_cfg is {dict(loop)}, expected an '
                         f'IterBasedTrainLoop of {spec["max_iters"]}')
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    from mmdet.registry import MODELS
    model = MODELS.build(cfg.model)
    sync = sum(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    if sync == 0:
        raise ValueError('no SyncBatchNorm in the model')
    return (f'{type(model).__name__} {_params_m(model)}M, {sync} '
            f'SyncBatchNorm layers, {loop.type} of {loop.max_iters}')


CHECKS = {'benchmark': check_benchmark, 'train-config': check_train_config}


def dry_check(plan_path: str, result_path: str) -> int:
    import torch
    torch.set_num_threads(min(2, torch.get_num_threads()))
    with open(plan_path, encoding='utf-8') as f:
        plan = json.load(f)
    results: Dict[str, List[Dict[str, Any]]] = {}
    failed = 0
    for step, specs in plan.items():
        for spec in specs:
            start = time.time()
            try:
                detail, ok = CHECKS[spec['kind']](spec), True
            except Exception as exc:  # noqa: BLE001 - reported per check
                detail, ok = f'{type(exc).__name__}: {exc}', False
                failed += 1
            seconds = round(time.time() - start, 1)
            print(
                f'[dry-check] {step}: {spec["what"]}: '
                f'{"ok" if ok else "FAILED"} ({seconds} s) {detail}',
                flush=True)
            results.setdefault(step, []).append(
                dict(what=spec['what'], ok=ok, detail=detail))
    _write(result_path, results)
    return 1 if failed else 0


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    rest: List[str] = []
    if '--' in argv:
        cut = argv.index('--')
        argv, rest = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('env', 'mmcv-check', 'bench'):
        sub.add_parser(name).add_argument('--json', required=True)
    dry = sub.add_parser('dry-check')
    dry.add_argument('plan')
    dry.add_argument('result')
    args = parser.parse_args(argv)
    if args.command == 'bench':
        return bench(args.json, rest)
    if args.command == 'dry-check':
        return dry_check(args.plan, args.result)
    data = env_info() if args.command == 'env' else mmcv_check()
    print(json.dumps(data, indent=1))
    _write(args.json, data)
    return 0


if __name__ == '__main__':
    sys.exit(main())
