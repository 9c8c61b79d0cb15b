"""Deployment: ONNX export of classifiers, segmentors and detectors and
their check in ONNX Runtime (``tools/deployment/pytorch2onnx.py``)."""
from .onnx_export import (TASKS, ExportError, OnnxTwoStageDetector, OrtModel,
                          VerificationError, compare_outputs, export_graph,
                          export_onnx, has_global_filter, load_export_model,
                          model_task, preprocess_image, verify_onnx)

__all__ = [
    'TASKS', 'ExportError', 'OnnxTwoStageDetector', 'OrtModel',
    'VerificationError', 'compare_outputs', 'export_graph', 'export_onnx',
    'has_global_filter', 'load_export_model', 'model_task', 'preprocess_image',
    'verify_onnx'
]
