"""Export hornet_mm models to ONNX and check them in ONNX Runtime.

What one ``.onnx`` file holds, by model kind (:func:`model_task`):

* ``classifier`` (mmpretrain ``ImageClassifier``): the whole model, image
  batch in, softmax scores ``(N, num_classes)`` out;
* ``segmentor`` (mmseg ``EncoderDecoder``): backbone and decode head at one
  input size, the logits resized to the input (``(N, K, H, W)``, as mmseg's
  whole-image inference computes them) or their argmax ``(N, H, W)``.
  Sliding-window inference, test-time augmentation, the crop of padding and
  the resize to the original image stay with the caller;
* ``detector`` (mmdet two-stage detectors: Mask R-CNN, Cascade Mask R-CNN):
  backbone, neck and RPN head, whose outputs (the feature pyramid and the
  RPN's scores and box deltas per level) :class:`OnnxTwoStageDetector`
  finishes in PyTorch: proposals, RoI heads (mmcv's RoIAlign), NMS and
  masks, whose data-dependent shapes have no plain ONNX form.

The input is what the model's data preprocessor gives the model: RGB (or as
the config says), normalised, padded to the size; :func:`preprocess_image`
makes it from an image file.

The graph is traced by the TorchScript exporter (``dynamo=False``): for
these models it exports in seconds and needs no ``onnxscript``; the global
filter takes its matrix form while exporting (see
:mod:`hornet_mm.models.layers.dft`), so neither exporter has to emit an FFT.
"""
import os.path as osp
import warnings
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    'TASKS', 'ExportError', 'VerificationError', 'model_task',
    'has_global_filter', 'load_export_model', 'export_graph', 'export_onnx',
    'OrtModel', 'compare_outputs', 'verify_onnx', 'preprocess_image',
    'OnnxTwoStageDetector'
]

TASKS = ('classifier', 'segmentor', 'detector')
#: Input sides must be multiples of the backbone's total stride.
STRIDE = 32


class ExportError(ValueError):
    """The model or the settings cannot be exported as asked."""


class VerificationError(RuntimeError):
    """ONNX Runtime's outputs differ from PyTorch's beyond the tolerance."""


def model_task(model: nn.Module) -> str:
    """``classifier``, ``segmentor`` or ``detector``; ExportError for the
    other model types."""
    name = type(model).__name__
    try:
        from mmpretrain.models.classifiers import ImageClassifier
        if isinstance(model, ImageClassifier):
            return 'classifier'
    except ImportError:
        pass
    try:
        from mmseg.models.segmentors import EncoderDecoder
        if isinstance(model, EncoderDecoder):
            return 'segmentor'
    except ImportError:
        pass
    try:
        from mmdet.models.detectors import TwoStageDetector
        if isinstance(model, TwoStageDetector) and model.with_rpn:
            return 'detector'
    except ImportError:
        pass
    raise ExportError(
        f'Cannot export a {name}: supported are mmpretrain ImageClassifier '
        '(classifier), mmseg EncoderDecoder (segmentor) and mmdet two-stage '
        'detectors with an RPN (detector: backbone, neck and RPN head)')


def has_global_filter(model: nn.Module) -> bool:
    """Whether ``model`` holds a global-local filter (fixes the input size
    of an export)."""
    from hornet_mm.models.layers import GlobalLocalFilter
    return any(isinstance(m, GlobalLocalFilter) for m in model.modules())


# ---------------------------------------------------------------------------
# The exported graphs
# ---------------------------------------------------------------------------


class ClassifierGraph(nn.Module):
    """Image batch -> softmax class scores."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        logits = self.model(inputs, mode='tensor')
        if isinstance(logits, (tuple, list)):
            logits = logits[-1]
        return F.softmax(logits, dim=1)


class SegmentorGraph(nn.Module):
    """Image batch -> logits at the input size (or their argmax)."""

    def __init__(self, model: nn.Module, output: str = 'logits') -> None:
        super().__init__()
        if output not in ('logits', 'argmax'):
            raise ExportError(
                f"Segmentor output must be 'logits' or 'argmax', got "
                f'{output!r}')
        self.model, self.output = model, output

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        head = self.model.decode_head
        logits = head.forward(self.model.extract_feat(inputs))
        logits = F.interpolate(
            logits,
            size=inputs.shape[2:],
            mode='bilinear',
            align_corners=head.align_corners)
        if self.output == 'logits':
            return logits
        if logits.shape[1] == 1:  # binary head: mmseg's sigmoid threshold
            return (logits[:, 0].sigmoid() > head.threshold).long()
        return logits.argmax(dim=1)


class DetectorGraph(nn.Module):
    """Image batch -> feature pyramid, RPN scores, RPN box deltas (one
    tensor per level each, in this order)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        feats = self.model.extract_feat(inputs)
        scores, deltas = self.model.rpn_head(feats)
        return (*feats, *scores, *deltas)


def export_graph(model: nn.Module,
                 task: Optional[str] = None,
                 seg_output: str = 'logits') -> nn.Module:
    """The module whose forward is exported for ``model`` (eval mode)."""
    task = task or model_task(model)
    model.eval()
    if task == 'classifier':
        return ClassifierGraph(model).eval()
    if task == 'segmentor':
        return SegmentorGraph(model, seg_output).eval()
    if task == 'detector':
        return DetectorGraph(model).eval()
    raise ExportError(f'Unknown task {task!r}; choose from {TASKS}')


def output_names(model: nn.Module, task: str) -> List[str]:
    """Names of the graph outputs of :func:`export_graph`."""
    if task == 'classifier':
        return ['scores']
    if task == 'segmentor':
        return ['seg_logits']
    levels = len(model.rpn_head.prior_generator.strides)
    return ([f'feat{i}'
             for i in range(levels)] + [f'rpn_cls{i}' for i in range(levels)] +
            [f'rpn_reg{i}' for i in range(levels)])


def adaptive_pool_matrix(size: int, out_size: int) -> torch.Tensor:
    """``(out_size, size)`` averaging matrix of adaptive average pooling:
    row ``i`` averages ``[floor(i * size / out), ceil((i + 1) * size /
    out))``, the windows of ``F.adaptive_avg_pool2d``."""
    matrix = torch.zeros(out_size, size)
    for i in range(out_size):
        start = (i * size) // out_size
        end = -(-((i + 1) * size) // out_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


class _AdaptiveAvgPool2dExport(nn.AdaptiveAvgPool2d):
    """``nn.AdaptiveAvgPool2d`` that exports for any fixed input size.

    The TorchScript exporter refuses output sizes that do not divide the
    input (UperNet's pyramid pooling: scales 3 and 6 of a 16 x 16 map);
    while exporting, the pooling becomes two products with constant
    averaging matrices (:func:`adaptive_pool_matrix`), equal to the
    pooling to float rounding.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from hornet_mm.models.layers import exporting
        height, width = int(x.shape[-2]), int(x.shape[-1])
        out = self.output_size
        out_h, out_w = (out, out) if isinstance(out, int) else out
        out_h, out_w = out_h or height, out_w or width
        if not exporting() or (height % out_h == 0 and width % out_w == 0):
            return super().forward(x)
        rows = adaptive_pool_matrix(height, out_h).to(x)
        cols = adaptive_pool_matrix(width, out_w).to(x)
        return torch.matmul(torch.matmul(rows, x), cols.T)


@contextmanager
def export_forms(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` with the exportable forms of its layers for the duration of
    the block (adaptive average pooling, see
    :class:`_AdaptiveAvgPool2dExport`); the global filter switches by
    itself. The classes are restored afterwards."""
    swapped = [m for m in model.modules() if type(m) is nn.AdaptiveAvgPool2d]
    for module in swapped:
        module.__class__ = _AdaptiveAvgPool2dExport
    try:
        yield model
    finally:
        for module in swapped:
            module.__class__ = nn.AdaptiveAvgPool2d


# ---------------------------------------------------------------------------
# Building, loading
# ---------------------------------------------------------------------------


def load_export_model(config: Any,
                      checkpoint: str,
                      cfg_options: Optional[dict] = None,
                      unsafe: bool = False) -> Tuple[nn.Module, Any]:
    """Build a config's model on the CPU and load a checkpoint into it.

    The checkpoint must fit the model exactly (every tensor, by name and
    shape, as hornet_mm's converters and training write them) and hold only
    finite values. SyncBN becomes BN.

    Returns:
        ``(model in eval mode, config)``.
    """
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS, init_default_scope

    from hornet_mm.apis.checkpoint import load_checkpoint_file
    from hornet_mm.utils.cli import load_config

    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Checkpoint file not found: {checkpoint}')
    if isinstance(config, Config):
        cfg = config
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
    else:
        cfg = load_config(config, cfg_options)
    if cfg.get('custom_imports'):
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope(cfg.get('default_scope') or 'mmpretrain')
    model_cfg = cfg.model.copy()
    model_cfg.get('backbone', {}).pop('init_cfg', None)  # weights: below
    model = revert_sync_batchnorm(MODELS.build(model_cfg))
    model_task(model)  # an unsupported kind fails before reading weights
    ckpt = load_checkpoint_file(checkpoint, unsafe=unsafe)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        raise ExportError(f'{checkpoint} holds no state dict')
    state = {
        (k[7:] if k.startswith('module.') else k): v
        for k, v in state.items()
    }
    bad = [
        k for k, v in state.items() if isinstance(v, torch.Tensor)
        and v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if bad:
        raise ExportError(f'{checkpoint} holds non-finite values in '
                          f'{len(bad)} tensors: {", ".join(bad[:5])}')
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f'{k} {tuple(state[k].shape)} in the checkpoint, '
        f'{tuple(v.shape)} in the model' for k, v in own.items()
        if k in state and isinstance(state[k], torch.Tensor)
        and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f'{len(missing)} missing (e.g. '
                         f'{", ".join(missing[:3])})')
        if unexpected:
            parts.append(f'{len(unexpected)} unexpected (e.g. '
                         f'{", ".join(unexpected[:3])})')
        if shapes:
            parts.append(f'{len(shapes)} of other shapes (e.g. '
                         f'{"; ".join(shapes[:2])})')
        raise ExportError(
            f'Checkpoint {checkpoint} does not fit the model of the config: '
            f'{"; ".join(parts)}. A released checkpoint is converted first '
            '(tools/model_converters/hornet_to_mm.py).')
    model.load_state_dict(state, strict=True)
    return model.eval(), cfg


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------


def check_shape(model: nn.Module, shape: Sequence[int],
                dynamic_shape: bool) -> Tuple[int, int]:
    """Validate the export input size ``(H, W)``."""
    if len(shape) != 2 or min(shape) < 1:
        raise ExportError(f'Input shape must be H W, got {list(shape)}')
    height, width = int(shape[0]), int(shape[1])
    if height % STRIDE or width % STRIDE:
        raise ExportError(
            f'Input size {height}x{width} is not divisible by {STRIDE} (the '
            f'backbone\'s stride); use e.g. '
            f'{-(-height // STRIDE) * STRIDE}x{-(-width // STRIDE) * STRIDE}')
    if dynamic_shape and has_global_filter(model):
        raise ExportError(
            'A global-filter model exports for one input size only (its FFT '
            'becomes constant DFT matrices of that size): drop the dynamic '
            f'spatial size and export with --shape {height} {width} (or the '
            'size you will run it at)')
    return height, width


def export_onnx(model: nn.Module,
                path: str,
                shape: Sequence[int] = (224, 224),
                task: Optional[str] = None,
                batch_size: int = 1,
                dynamic_batch: bool = False,
                dynamic_shape: bool = False,
                opset: int = 17,
                seg_output: str = 'logits') -> Dict[str, Any]:
    """Export ``model`` to ``path`` (written whole or not at all).

    Args:
        model: A model of a supported kind (see :func:`model_task`).
        path: The ``.onnx`` file.
        shape: Input ``(H, W)``, multiples of 32.
        task: Override :func:`model_task`'s answer (not needed normally).
        batch_size: Batch of the traced input (the fixed batch unless
            ``dynamic_batch``).
        dynamic_batch: Leave the batch axis free.
        dynamic_shape: Leave the spatial axes free (classifiers without
            global filters only).
        opset: ONNX opset.
        seg_output: ``logits`` or ``argmax`` for a segmentor.

    Returns:
        A summary: ``task``, ``inputs`` / ``outputs`` names, ``shape``.
    """
    from hornet_mm.utils.atomic import atomic_path

    task = task or model_task(model)
    height, width = check_shape(model, shape, dynamic_shape)
    if task != 'classifier' and dynamic_shape:
        # pyramid pooling and the detector's anchors are traced for one size
        raise ExportError(
            f'A {task} exports for one input size only (pooling windows and '
            'anchors are fixed by the traced size): drop the dynamic size '
            f'and export with --shape {height} {width} (or the size you '
            'will run it at)')
    graph = export_graph(model, task, seg_output)
    outputs = output_names(model, task)
    batch_axis = {0: 'batch'} if dynamic_batch else {}
    axes: Dict[str, Dict[int, str]] = {
        name: dict(batch_axis)
        for name in outputs
    }
    axes['input'] = dict(batch_axis)
    if dynamic_shape:
        axes['input'].update({2: 'height', 3: 'width'})
    axes = {name: free for name, free in axes.items() if free}
    dummy = torch.rand(batch_size, 3, height, width)
    directory = osp.dirname(osp.abspath(path))
    if not osp.isdir(directory):
        raise ExportError(f'Output directory does not exist: {directory}')
    with atomic_path(path) as tmp, torch.no_grad(), export_forms(graph), \
            warnings.catch_warnings():
        # the sizes the tracer fixes are the ones asked for (check_shape)
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        warnings.filterwarnings('ignore', 'You are using the legacy')
        try:
            torch.onnx.export(
                graph, (dummy, ),
                tmp,
                input_names=['input'],
                output_names=outputs,
                dynamic_axes=axes or None,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False)
        except Exception as err:  # the exporter's errors are of many types
            lines = str(err).strip().splitlines()
            raise ExportError(
                f'torch.onnx.export failed for the {task} graph '
                f'({type(model).__name__}, opset {opset}): '
                f'{type(err).__name__}: {lines[0] if lines else ""}') from err
    return dict(
        task=task,
        inputs=['input'],
        outputs=outputs,
        shape=(height, width),
        dynamic_batch=dynamic_batch,
        dynamic_shape=dynamic_shape)


# ---------------------------------------------------------------------------
# Running and verifying
# ---------------------------------------------------------------------------


class OrtModel:
    """An ONNX file in an ONNX Runtime session (CPU provider by default).

    Example:
        >>> ort_model = OrtModel('hornet-t.onnx', threads=2)
        >>> scores, = ort_model(torch.rand(1, 3, 224, 224))
    """

    def __init__(self,
                 path: str,
                 providers: Sequence[str] = ('CPUExecutionProvider', ),
                 threads: Optional[int] = None) -> None:
        import onnxruntime as ort
        if not osp.isfile(path):
            raise FileNotFoundError(f'ONNX file not found: {path}')
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            path, sess_options=options, providers=list(providers))
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, inputs: torch.Tensor) -> List[np.ndarray]:
        array = inputs.detach().cpu().numpy().astype(np.float32)
        return self.session.run(None, {self.input_name: array})


def compare_outputs(onnx_outputs: Sequence[np.ndarray],
                    torch_outputs: Sequence[torch.Tensor],
                    names: Sequence[str]) -> Dict[str, Dict[str, float]]:
    """Largest absolute difference per output, and relative to the largest
    magnitude of the PyTorch output (at least 1)."""
    report = {}
    for name, got, want in zip(names, onnx_outputs, torch_outputs):
        want = want.detach().cpu().numpy()
        if got.shape != want.shape:
            raise VerificationError(
                f'Output {name}: ONNX Runtime gives shape {got.shape}, '
                f'PyTorch {want.shape}')
        if want.dtype.kind in 'iub':  # argmax maps: share of equal pixels
            diff = float((got != want).mean())
            report[name] = dict(max_abs=diff, relative=diff)
            continue
        diff = float(np.abs(got.astype(np.float64) - want).max()) \
            if want.size else 0.0
        scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
        report[name] = dict(max_abs=diff, relative=diff / scale)
    return report


def verify_onnx(path: str,
                model: nn.Module,
                inputs: Dict[str, torch.Tensor],
                task: Optional[str] = None,
                tolerance: float = 1e-4,
                seg_output: str = 'logits') -> Dict[str, Dict[str, float]]:
    """Run ``path`` in ONNX Runtime (CPU) and ``model`` in PyTorch on each
    named input batch; raise :class:`VerificationError` naming the output
    and the difference when one exceeds ``tolerance`` (relative to the
    output's scale, see :func:`compare_outputs`).

    Returns:
        ``{input name: {'max_abs': .., 'relative': .., 'output': ..}}``, the
        worst output of each input.
    """
    task = task or model_task(model)
    graph = export_graph(model, task, seg_output)
    names = output_names(model, task)
    ort_model = OrtModel(path)
    report = {}
    for label, batch in inputs.items():
        with torch.no_grad():
            want = graph(batch)
        want = list(want) if isinstance(want, (tuple, list)) else [want]
        diffs = compare_outputs(ort_model(batch), want, names)
        worst = max(diffs, key=lambda n: diffs[n]['relative'])
        report[label] = dict(diffs[worst], output=worst)
        if diffs[worst]['relative'] > tolerance:
            raise VerificationError(
                f'{path}: output {worst!r} on the {label} input differs from '
                f'PyTorch by {diffs[worst]["max_abs"]:.3g} (relative '
                f'{diffs[worst]["relative"]:.3g} > tolerance {tolerance:g})')
    return report


def preprocess_image(model: nn.Module,
                     image: Any,
                     shape: Sequence[int],
                     batch_size: int = 1) -> torch.Tensor:
    """An image (file path or HxWx3 BGR array) resized to ``shape`` and put
    through the model's data preprocessor (channel order, normalisation),
    repeated ``batch_size`` times."""
    import mmcv
    if isinstance(image, str):
        from hornet_mm.apis.inference import check_image_files
        check_image_files([image])
        image = mmcv.imread(image)
    height, width = int(shape[0]), int(shape[1])
    image = mmcv.imresize(image, (width, height))
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    data = model.data_preprocessor(
        dict(inputs=[tensor] * batch_size), training=False)
    return data['inputs'].float()


class OnnxTwoStageDetector:
    """Mask R-CNN / Cascade Mask R-CNN with backbone, neck and RPN head in
    ONNX Runtime and the rest in PyTorch.

    Args:
        path: The detector graph exported by :func:`export_onnx`.
        model: The detector (its RPN post-processing and RoI heads run).
        threads: ONNX Runtime threads.

    Example:
        >>> detector = OnnxTwoStageDetector('mask-rcnn.onnx', model)
        >>> samples = detector.predict(inputs, data_samples)
        >>> samples[0].pred_instances.bboxes
    """

    def __init__(self,
                 path: str,
                 model: nn.Module,
                 threads: Optional[int] = None) -> None:
        self.ort_model = OrtModel(path, threads=threads)
        self.model = model.eval()
        self.levels = len(model.rpn_head.prior_generator.strides)

    def predict(self,
                inputs: torch.Tensor,
                data_samples: List[Any],
                rescale: bool = True) -> List[Any]:
        """Detections for a preprocessed batch, as ``model.predict`` gives
        them (``pred_instances`` with boxes, scores, labels, masks)."""
        outs = [torch.from_numpy(o) for o in self.ort_model(inputs)]
        levels = self.levels
        feats = tuple(outs[:levels])
        scores, deltas = outs[levels:2 * levels], outs[2 * levels:]
        metas = [sample.metainfo for sample in data_samples]
        model = self.model
        with torch.no_grad():
            proposals = model.rpn_head.predict_by_feat(
                scores, deltas, batch_img_metas=metas, rescale=False)
            results = model.roi_head.predict(
                feats, proposals, data_samples, rescale=rescale)
        return model.add_pred_to_datasample(data_samples, results)
