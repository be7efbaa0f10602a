"""Deployment: ONNX export of detectors and backbones, an onnxruntime detector, torch.compile for the tools.

- :mod:`.onnx`: strict ``torch.export`` then ONNX; onnxruntime sessions (CPU, or CUDA when asked for);
- :mod:`.detector`: what part of a detector is exported; loading a config and a checkpoint;
- :mod:`.export`: :func:`export_model`, behind ``tools/deployment/export_onnx.py``;
- :mod:`.runtime`: :class:`ONNXRuntimeDetector`, the exported network plus mmdet's post-processing;
- :mod:`.compile`: ``--compile`` of ``tools/train.py`` and ``tools/test.py``.
"""

from .detector import DetectorNetwork, build_detector, detector_part, load_config
from .export import check_shape, default_export_shape, export_model
from .onnx import execution_providers, export_onnx, inference_session, read_metadata
from .runtime import ONNXRuntimeDetector

__all__ = [
    'DetectorNetwork',
    'ONNXRuntimeDetector',
    'build_detector',
    'check_shape',
    'default_export_shape',
    'detector_part',
    'execution_providers',
    'export_model',
    'export_onnx',
    'inference_session',
    'load_config',
    'read_metadata',
]
