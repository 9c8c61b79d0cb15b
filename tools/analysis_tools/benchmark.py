"""Time inference and training steps of a HorNet classifier or of any
mmpretrain / mmdet / mmseg config, and the peak memory of a step.

What is measured, per case (model x mode x precision x channels-last x
compile):

* ``infer``: one forward pass under ``torch.inference_mode`` (for a config:
  ``mode='predict'``, post-processing included, on a batch already through
  the data preprocessor);
* ``train``: forward, loss, backward and an AdamW step (lr 0: the step does
  all its arithmetic but leaves the weights as they are, so every repeat
  times the same model), gradients set to None after each step;
* ``--warmup`` steps per case (their time is reported: the first includes
  ``torch.compile``), then ``--repeats`` timed rounds in which the cases are
  interleaved (A, B, C, A, B, C, ...), so that load on a shared machine falls
  on all of them; median, min, max and IQR over the rounds; img/s at the
  median;
* peak memory of one more step above what was allocated before it (see
  :data:`hornet_mm.analysis.benchmark.MEMORY_METHODS`, printed in the header).

Models:

* ``--arch tiny`` (any HorNet arch): hornet_mm's HorNet with a linear
  1000-class head. ``--compare`` adds the plain formulation of the same
  equations (``HorNet(fused=False)``, same weights) and timm's ConvNeXt-T
  (when timm is installed) and prints throughput ratios against the plain
  formulation; ``--models hornet_mm onnxruntime`` times the same classifier
  exported to ONNX (TorchScript exporter, fixed batch) in ONNX Runtime's CPU
  provider with as many threads (inference in float32 only);
* one or more config files (``mmdet::mask_rcnn/...`` names a config shipped
  with the library): the model is built from the config's scope, a synthetic
  batch (random images; for detectors a few random boxes, labels and masks
  per image; for segmentors a random map) goes once through the model's
  data preprocessor, and the steps reuse it. Several configs are interleaved
  like ``--compare``'s models and compared with the first.

Precision: ``fp32`` or autocast to ``bf16`` / ``fp16`` (float16 training
uses a GradScaler). On the CPU, float16 autocast is supported by recent
PyTorch for convolutions and matrix products but most CPUs have no fast
float16 arithmetic, so expect it to be slow there; a detector or segmentor
config on the CPU autocasts only its backbone and neck (mmcv's compiled CPU
ops have no reduced-precision kernels), elsewhere the whole model.

Examples::

    python tools/analysis_tools/benchmark.py --arch tiny --compare \\
        --threads 2 --batch-size 8 --precision fp32 bf16
    python tools/analysis_tools/benchmark.py \\
        configs/detection/mask-rcnn_hornet-t_fpn_1x_coco.py \\
        mmdet::mask_rcnn/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py \\
        --device cuda --batch-size 2 --shape 800 1333 --precision fp16
"""
import argparse
import importlib
import itertools
import os
import os.path as osp
import platform
import resource
import sys
import tempfile
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.config import DictAction

from hornet_mm.analysis.benchmark import (COMPARE_MODELS, MEMORY_METHODS, Case,
                                          build_classifier, cpu_description,
                                          format_ratios, format_results,
                                          peak_memory, run_cases, synchronize)
from hornet_mm.analysis.split import (INFER_PARTS, TRAIN_PARTS, format_split,
                                      time_detector_step)
from hornet_mm.utils.autocast import PRECISIONS, AutocastPolicy

DEFAULT_SHAPES: Dict[str, Tuple[int, int]] = {
    'arch': (224, 224),
    'mmpretrain': (224, 224),
    'mmdet': (800, 1333),
    'mmseg': (512, 512),
}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Latency, throughput and peak memory of inference and '
        'training steps (HorNet arch or configs)',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument(
        'configs',
        nargs='*',
        help='config files (or lib::path for a config shipped with mmdet, '
        'mmseg or mmpretrain); several are interleaved and compared with '
        'the first')
    parser.add_argument(
        '--arch', help='HorNet arch of a classifier (tiny, small-gf, ...)')
    parser.add_argument(
        '--compare',
        action='store_true',
        help='with --arch: also the plain formulation and timm ConvNeXt-T')
    parser.add_argument(
        '--models',
        nargs='+',
        choices=COMPARE_MODELS + ('onnxruntime', ),
        help='with --arch: the models to time (default: hornet_mm, or all '
        'but onnxruntime with --compare); onnxruntime is hornet_mm\'s '
        'classifier exported to ONNX and run by ONNX Runtime on the CPU '
        '(inference, fp32)')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='cpu, cuda or cuda:N')
    parser.add_argument(
        '--threads', type=int, help='torch.set_num_threads (CPU)')
    parser.add_argument('--batch-size', type=int, default=None)
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        help='input H W, or one value for a square (default: 224 for '
        'classifiers, 800 1333 for mmdet, 512 512 for mmseg)')
    parser.add_argument(
        '--modes', nargs='+', choices=['infer', 'train'], default=['infer'])
    parser.add_argument(
        '--precision',
        nargs='+',
        choices=list(PRECISIONS),
        default=['fp32'],
        help='fp32, or autocast to bf16 / fp16')
    parser.add_argument(
        '--channels-last',
        nargs='+',
        choices=['off', 'on'],
        default=['off'],
        help='convert model and input to channels-last memory format')
    parser.add_argument(
        '--compile',
        nargs='+',
        choices=['off', 'on'],
        default=['off'],
        help='torch.compile the model (falls back to eager with a note '
        'when compiling fails)')
    parser.add_argument(
        '--compile-backend',
        default='inductor',
        help='backend passed to torch.compile')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument(
        '--no-memory',
        action='store_true',
        help='skip the extra step per case that measures peak memory')
    parser.add_argument(
        '--with-cp',
        action='store_true',
        help='with --arch: activation checkpointing in hornet_mm\'s HorNet')
    parser.add_argument(
        '--drop-path-rate',
        type=float,
        default=0.,
        help='with --arch: stochastic depth of all compared models')
    parser.add_argument(
        '--split',
        action='store_true',
        help='with two-stage detector configs: time the parts of each step '
        '(data preprocessor, backbone, neck, RPN head, RoI heads, their '
        'backward, optimizer) instead of whole steps')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of every config, key=value pairs')
    args = parser.parse_args(argv)
    if bool(args.arch) == bool(args.configs):
        parser.error('give either --arch or one or more configs')
    if args.split and not args.configs:
        parser.error('--split needs detector configs')
    if args.compare and not args.arch:
        parser.error('--compare needs --arch (several configs are compared '
                     'with each other anyway)')
    return args


# ---------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------


def environment(device: torch.device) -> List[str]:
    """Header lines: versions, device, threads."""
    lines = [
        f'torch {torch.__version__}, python {platform.python_version()}, '
        f'{platform.system()} {platform.machine()}',
        f'CPU: {cpu_description()} ({os.cpu_count()} logical CPUs), '
        f'torch threads: {torch.get_num_threads()}',
    ]
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        lines.append(f'device: {device} = {props.name}, '
                     f'{props.total_memory / 2**30:.0f} GiB, CUDA '
                     f'{torch.version.cuda}, cuDNN '
                     f'{torch.backends.cudnn.version()}')
    else:
        lines.append(f'device: {device} (mkldnn: '
                     f'{torch.backends.mkldnn.is_available()})')
    try:
        import timm
        lines.append(f'timm {timm.__version__}')
    except ImportError:
        lines.append('timm not installed (no ConvNeXt-T comparison)')
    lines.append(f'peak memory: {MEMORY_METHODS.get(device.type, "n/a")}')
    return lines


# ---------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------


def _optimizer(model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=0.0, weight_decay=0.05)


def _scaler(device: torch.device, precision: str):
    if precision != 'fp16':
        return None
    try:
        return torch.amp.GradScaler(device.type)
    except (AttributeError, RuntimeError, TypeError):
        return None


def _backward_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                   scaler: Any) -> None:
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    optimizer.zero_grad(set_to_none=True)


def classifier_step(model: nn.Module, mode: str, precision: str,
                    device: torch.device, inputs: torch.Tensor,
                    labels: torch.Tensor) -> Callable[[], None]:
    """The step of a plain ``nn.Module`` classifier (image -> logits), the
    whole of it under autocast."""
    policy = AutocastPolicy.from_precision(device, precision)
    if mode == 'infer':
        model.eval()

        def infer() -> None:
            with torch.inference_mode(), policy.context():
                model(inputs)
            synchronize(device)

        return infer
    model.train()
    optimizer = _optimizer(model)
    scaler = _scaler(device, precision)

    def train() -> None:
        with policy.context():
            loss = nn.functional.cross_entropy(model(inputs), labels)
        _backward_step(loss, optimizer, scaler)
        synchronize(device)

    return train


def config_step(model: nn.Module, mode: str, precision: str,
                device: torch.device, data: Dict[str, Any],
                scope: str) -> Callable[[], None]:
    """The step of an OpenMMLab model on a preprocessed batch, autocast as
    ``--amp`` training autocasts it (:class:`AutocastPolicy`)."""
    policy = AutocastPolicy.from_precision(device, precision)

    def cast():
        return policy.context(model)

    if mode == 'infer':
        model.eval()

        def infer() -> None:
            with torch.inference_mode(), cast():
                model(**data, mode='predict')
            synchronize(device)

        return infer
    model.train()
    optimizer = _optimizer(model)
    scaler = _scaler(device, precision)

    def train() -> None:
        with cast():
            losses = model(**data, mode='loss')
            loss, _ = model.parse_losses(losses)
        _backward_step(loss, optimizer, scaler)
        synchronize(device)

    return train


# ---------------------------------------------------------------------------
# Config models and synthetic batches
# ---------------------------------------------------------------------------


def resolve_config(path: str) -> str:
    """``lib::rel/path.py`` -> the file shipped in ``lib``'s ``.mim``."""
    if '::' not in path:
        return path
    lib, rel = path.split('::', 1)
    package = importlib.import_module(lib)
    root = osp.join(osp.dirname(package.__file__), '.mim', 'configs')
    full = osp.join(root, rel)
    if not osp.isfile(full):
        raise FileNotFoundError(f'{path}: no {rel} in {root}')
    return full


def build_config_model(
        path: str,
        cfg_options: Optional[dict],
        scope_hint: Optional[str] = None) -> Tuple[nn.Module, str, Any]:
    """Build ``cfg.model`` in the config's scope (SyncBN -> BN)."""
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope

    from hornet_mm.utils.cli import load_config
    cfg = load_config(resolve_config(path), cfg_options)
    scope = cfg.get('default_scope') or scope_hint or 'mmpretrain'
    init_default_scope(scope)
    registry = importlib.import_module(f'{scope}.registry')
    # random weights: init_weights() could fetch a pretrained checkpoint
    model = registry.MODELS.build(cfg.model)
    return revert_sync_batchnorm(model), scope, cfg


def _det_sample(height: int, width: int, num_classes: int, with_mask: bool,
                gen: torch.Generator) -> Any:
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    num = 4
    xy = torch.rand(
        num, 2, generator=gen) * torch.tensor([width * 0.6, height * 0.6])
    wh = (torch.rand(num, 2, generator=gen) * 0.3 + 0.1) * torch.tensor(
        [width, height])
    boxes = torch.cat([xy, xy + wh], dim=1)
    instances = InstanceData(
        bboxes=boxes,
        labels=torch.randint(0, num_classes, (num, ), generator=gen))
    if with_mask:
        masks = torch.zeros(num, height, width, dtype=torch.uint8)
        for i, (x0, y0, x1, y1) in enumerate(boxes.long().tolist()):
            masks[i, y0:y1, x0:x1] = 1
        instances.masks = BitmapMasks(masks.numpy(), height, width)
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(height, width),
            ori_shape=(height, width),
            scale_factor=(1.0, 1.0),
            flip=False))
    sample.gt_instances = instances
    sample.ignored_instances = InstanceData(
        bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    return sample


def _seg_sample(height: int, width: int, num_classes: int,
                gen: torch.Generator) -> Any:
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    sample = SegDataSample(
        metainfo=dict(
            img_shape=(height, width),
            ori_shape=(height, width),
            pad_shape=(height, width),
            scale_factor=(1.0, 1.0),
            flip=False))
    sample.gt_sem_seg = PixelData(
        data=torch.randint(0, num_classes, (1, height, width), generator=gen))
    return sample


def _cls_sample(num_classes: int, gen: torch.Generator) -> Any:
    from mmpretrain.structures import DataSample
    label = torch.randint(0, num_classes, (1, ), generator=gen)
    return DataSample().set_gt_label(label)


def _num_classes(model: nn.Module, default: int) -> int:
    for name in ('roi_head.bbox_head', 'decode_head', 'head', 'bbox_head'):
        module: Any = model
        for part in name.split('.'):
            module = getattr(module, part, None)
        if isinstance(module, nn.ModuleList):
            module = module[-1]
        num = getattr(module, 'num_classes', None)
        if isinstance(num, int):
            return num
    return default


def synthetic_batch(model: nn.Module, scope: str, batch_size: int, height: int,
                    width: int, seed: int) -> Dict[str, Any]:
    """Random uint8 images with random targets, as a data loader gives."""
    gen = torch.Generator().manual_seed(seed)
    num_classes = _num_classes(model, 80)
    images, samples = [], []
    for _ in range(batch_size):
        images.append(
            torch.randint(
                0, 256, (3, height, width), dtype=torch.uint8, generator=gen))
        if scope == 'mmdet':
            with_mask = bool(getattr(model, 'with_mask', False))
            samples.append(
                _det_sample(height, width, num_classes, with_mask, gen))
        elif scope == 'mmseg':
            samples.append(_seg_sample(height, width, num_classes, gen))
        else:
            samples.append(_cls_sample(num_classes, gen))
    return dict(inputs=images, data_samples=samples)


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------


def _settings(mode: str, precision: str, channels_last: str,
              compile_: str) -> Dict[str, str]:
    return dict(
        mode=mode,
        precision=precision,
        channels_last=channels_last,
        compile=compile_)


def _maybe_compile(model: nn.Module, compile_: str,
                   backend: str) -> Tuple[nn.Module, str]:
    """``torch.compile(model)`` for ``'on'``, with a note where it cannot."""
    if compile_ != 'on':
        return model, ''
    if not hasattr(torch, 'compile'):
        return model, 'torch.compile unavailable: eager'
    try:
        return torch.compile(model, backend=backend), ''
    except Exception as exc:  # noqa: BLE001 - reported, eager fallback
        return model, f'compile failed ({type(exc).__name__}): eager'


def fall_back_to_eager(case: Case, exc: BaseException) -> bool:
    """``on_error`` of :func:`run_cases`: a compiled case that fails in its
    warm-up (where compilation happens) is rebuilt eager, once, with a
    note."""
    if (case.settings.get('compile') != 'on' or case.rebuild is None
            or case.note.startswith('compile failed')):
        return False
    lines = str(exc).strip().splitlines()
    msg = lines[0][:160] if lines else ''
    print(f'[benchmark] torch.compile failed for {case.model} '
          f'{case.settings}: {type(exc).__name__}: {msg}; timing it eager '
          'instead')
    case.note = f'compile failed ({type(exc).__name__}): eager'
    case.step = case.rebuild()
    return True


def _arch_step(args: argparse.Namespace, device: torch.device, name: str,
               weights: Dict[str, torch.Tensor], images: torch.Tensor,
               labels: torch.Tensor, mode: str, precision: str, cl: str,
               comp: str) -> Tuple[Callable[[], None], str]:
    torch.manual_seed(args.seed)
    model = build_classifier(
        name,
        args.arch,
        drop_path_rate=args.drop_path_rate,
        with_cp=args.with_cp)
    if name in ('hornet_mm', 'plain'):
        model.load_state_dict(weights)
    model = model.to(device)
    images = images.to(device)
    if cl == 'on':
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    model, note = _maybe_compile(model, comp, args.compile_backend)
    return classifier_step(model, mode, precision, device, images,
                           labels.to(device)), note


def _onnxruntime_step(args: argparse.Namespace, weights: Dict[str,
                                                              torch.Tensor],
                      images: torch.Tensor) -> Tuple[Callable[[], None], str]:
    """hornet_mm's classifier (same weights) exported to ONNX for the
    batch's fixed shape, run by ONNX Runtime's CPU provider with the torch
    thread count."""
    from hornet_mm.deployment import OrtModel
    model = build_classifier('hornet_mm', args.arch)
    model.load_state_dict(weights)
    with tempfile.TemporaryDirectory() as workdir, torch.no_grad():
        path = osp.join(workdir, 'classifier.onnx')
        torch.onnx.export(
            model.eval(), (images, ),
            path,
            input_names=['input'],
            opset_version=17,
            dynamo=False)
        ort_model = OrtModel(path, threads=torch.get_num_threads())
    feed = {ort_model.input_name: images.numpy()}

    def infer() -> None:
        ort_model.session.run(None, feed)

    return infer, 'ONNX Runtime CPU'


def arch_cases(args: argparse.Namespace, device: torch.device, height: int,
               width: int) -> List[Case]:
    """Cases of ``--arch`` (and ``--compare``)."""
    models = list(
        args.models or (COMPARE_MODELS if args.compare else ('hornet_mm', )))
    if 'onnxruntime' in models and device.type != 'cpu':
        print('[benchmark] onnxruntime is timed on the CPU only: left out')
        models.remove('onnxruntime')
    if 'convnext_t' in models:
        try:
            import timm  # noqa: F401
        except ImportError:
            print('[benchmark] timm is not installed: no ConvNeXt-T '
                  '(pip install timm)')
            models.remove('convnext_t')
    batch = args.batch_size or 8
    gen = torch.Generator().manual_seed(args.seed)
    images = torch.randn(batch, 3, height, width, generator=gen)
    labels = torch.randint(0, 1000, (batch, ), generator=gen)
    # one set of weights for hornet_mm and the plain formulation
    torch.manual_seed(args.seed)
    weights = build_classifier(
        'hornet_mm', args.arch,
        drop_path_rate=args.drop_path_rate).state_dict()
    cases = []
    for mode, precision, cl, comp in itertools.product(args.modes,
                                                       args.precision,
                                                       args.channels_last,
                                                       args.compile):
        for name in models:
            rebuild = None
            if name == 'onnxruntime':
                if (mode, precision, cl, comp) != ('infer', 'fp32', 'off',
                                                   'off'):
                    continue  # inference in float32, as exported
                step, note = _onnxruntime_step(args, weights, images)
            else:
                make = partial(_arch_step, args, device, name, weights, images,
                               labels, mode, precision, cl)
                step, note = make(comp)
                rebuild = lambda make=make: make('off')[0]  # noqa: E731
            cases.append(
                Case(
                    model=name,
                    settings=_settings(mode, precision, cl, comp),
                    batch_size=batch,
                    step=step,
                    device=device,
                    note=note,
                    rebuild=rebuild))
    return cases


def _config_step(args: argparse.Namespace, device: torch.device, path: str,
                 mode: str, precision: str, cl: str,
                 comp: str) -> Tuple[Callable[[], None], str, Tuple[int, int]]:
    torch.manual_seed(args.seed)
    model, scope, _ = build_config_model(path, args.cfg_options)
    height, width = input_shape(args.shape, scope)
    model = model.to(device)
    batch = synthetic_batch(model, scope, args.batch_size or 2, height, width,
                            args.seed)
    with torch.no_grad():
        data = model.data_preprocessor(batch, training=mode == 'train')
    if cl == 'on':
        model = model.to(memory_format=torch.channels_last)
        data['inputs'] = data['inputs'].contiguous(
            memory_format=torch.channels_last)
    note = ''
    if comp == 'on':
        # only the backbone: the heads' dynamic shapes (proposal counts,
        # NMS) would recompile at every step
        backbone = getattr(model, 'backbone', None)
        if isinstance(backbone, nn.Module):
            model.backbone, note = _maybe_compile(backbone, comp,
                                                  args.compile_backend)
            note = note or 'backbone compiled'
        else:
            model, note = _maybe_compile(model, comp, args.compile_backend)
    step = config_step(model, mode, precision, device, data, scope)
    return step, note, (height, width)


def config_cases(args: argparse.Namespace,
                 device: torch.device) -> Tuple[List[Case], Tuple[int, int]]:
    """Cases of one or more configs (interleaved like ``--compare``)."""
    cases = []
    shape = (0, 0)
    for path in args.configs:
        label = osp.splitext(osp.basename(path.split('::')[-1]))[0]
        for mode, precision, cl, comp in itertools.product(
                args.modes, args.precision, args.channels_last, args.compile):
            make = partial(_config_step, args, device, path, mode, precision,
                           cl)
            step, note, shape = make(comp)
            cases.append(
                Case(
                    model=label,
                    settings=_settings(mode, precision, cl, comp),
                    batch_size=args.batch_size or 2,
                    step=step,
                    device=device,
                    note=note,
                    rebuild=lambda make=make: make('off')[0]))
    return cases, shape


def split_cases(args: argparse.Namespace, device: torch.device) -> int:
    """``--split``: per config, mode and precision, the parts of a step
    (median over ``--repeats`` steps after ``--warmup``)."""
    status = 0
    for path in args.configs:
        label = osp.splitext(osp.basename(path.split('::')[-1]))[0]
        for mode, precision in itertools.product(args.modes, args.precision):
            torch.manual_seed(args.seed)
            model, scope, _ = build_config_model(path, args.cfg_options)
            height, width = input_shape(args.shape, scope)
            model = model.to(device)
            model.train(mode == 'train')
            batch = synthetic_batch(model, scope, args.batch_size or 2, height,
                                    width, args.seed)
            policy = AutocastPolicy.from_precision(device, precision)
            optimizer = _optimizer(model) if mode == 'train' else None
            scaler = _scaler(device, precision)

            def step(model=model,
                     batch=batch,
                     mode=mode,
                     policy=policy,
                     optimizer=optimizer,
                     scaler=scaler):
                return time_detector_step(
                    model,
                    batch,
                    mode,
                    device,
                    optimizer,
                    autocast=lambda: policy.context(model),
                    scaler=scaler)

            settings = f'{mode}, {precision}, batch {args.batch_size or 2} ' \
                f'x {height} x {width}'
            try:
                for _ in range(max(args.warmup, 1)):
                    step()
                rounds = [step() for _ in range(max(args.repeats, 1))]
            except ValueError as exc:
                print(f'[benchmark] {label}: {exc}')
                status = 1
                continue
            parts = TRAIN_PARTS if mode == 'train' else INFER_PARTS
            print()
            print(format_split(label, settings, rounds, parts))
    return status


def input_shape(shape: Optional[List[int]], scope: str) -> Tuple[int, int]:
    """``(H, W)`` from ``--shape`` or the default of the kind of model."""
    if shape is None:
        return DEFAULT_SHAPES.get(scope, DEFAULT_SHAPES['mmpretrain'])
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    raise ValueError(f'--shape takes H W or one value, got {shape}')


def main(argv: Optional[List[str]] = None) -> List[Case]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda but CUDA is not available')
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    if device.type == 'cpu' and 'fp16' in args.precision:
        print('[benchmark] note: float16 autocast on the CPU runs, but most '
              'CPUs have no fast float16 arithmetic: expect it to be slow')

    if args.split:
        print('=' * 79)
        print('benchmark --split of configs: ' + ', '.join(args.configs))
        for line in environment(device):
            print(line)
        print('=' * 79)
        if split_cases(args, device):
            raise SystemExit(1)
        return []

    if args.arch:
        height, width = input_shape(args.shape, 'arch')
        cases = arch_cases(args, device, height, width)
        reference = 'plain' if any(c.model == 'plain'
                                   for c in cases) else cases[0].model
        what = f'HorNet arch {args.arch!r} classifier (1000 classes)'
    else:
        cases, (height, width) = config_cases(args, device)
        reference = cases[0].model
        what = 'configs: ' + ', '.join(args.configs)

    print('=' * 79)
    print(f'benchmark of {what}')
    for line in environment(device):
        print(line)
    print(f'input: batch {cases[0].batch_size if cases else "-"} x 3 x '
          f'{height} x {width}; warm-up {args.warmup} steps per case, '
          f'{args.repeats} timed rounds interleaved over {len(cases)} cases')
    print('=' * 79)
    sys.stdout.flush()

    run_cases(cases, args.warmup, args.repeats, on_error=fall_back_to_eager)
    if not args.no_memory:
        for case in cases:
            if case.error is None:
                case.peak_mem, _ = peak_memory(case)

    print('\nResults (times per step over the timed rounds; warm-up: first '
          'step / all warm-up steps)')
    print(format_results(cases))
    print(f'\nThroughput ratios: img/s over {reference}\'s img/s in the '
          'same setting: ratio of the medians (min-max of the per-round '
          'ratios), best = ratio of the fastest steps')
    print(format_ratios(cases, reference))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'\nprocess max RSS: {rss:.0f} MiB')
    for case in cases:
        if case.error:
            print(f'[benchmark] {case.model} {case.settings} failed: '
                  f'{case.error}')
    return cases


if __name__ == '__main__':
    main()
