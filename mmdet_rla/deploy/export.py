"""Export a detector (or its backbone) from a config and a checkpoint to ONNX, checked with onnxruntime."""

import math
from typing import Any, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config

from .detector import DetectorNetwork, build_detector, load_config
from .onnx import as_tuple, execution_providers, export_onnx, inference_session, max_abs_difference, run_session

PARTS = ('detector', 'backbone')
# onnxruntime against PyTorch on the check image: |difference| <= ATOL + RTOL * max|PyTorch output|.
# Box regressions are scaled by the level's stride (values of hundreds), hence the relative part.
CHECK_ATOL = 1e-4
CHECK_RTOL = 1e-5


def check_shape(shape: Any) -> Tuple[int, int]:
    """``shape`` as ``(H, W)``; raise ``ValueError`` naming ``--shape`` unless it is two positive integers."""
    if (
        not isinstance(shape, (list, tuple))
        or len(shape) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in shape)
    ):
        raise ValueError(f'--shape must be two positive integers H W, got {shape!r}')
    return int(shape[0]), int(shape[1])


def default_export_shape(cfg: Config) -> Tuple[int, int]:
    """The largest network input the config's test pipeline makes: its ``Resize`` scale, padded.

    mmdet's ``Resize(scale=(w, h), keep_ratio=True)`` fits images inside ``w x h``; the data
    preprocessor then pads to a multiple of ``pad_size_divisor``.

    Raises:
        ValueError: The test pipeline has no ``Resize`` with a ``scale`` (then pass ``--shape``).
    """
    from mmdet.utils import get_test_pipeline_cfg

    scale = None
    for step in get_test_pipeline_cfg(cfg):
        if str(step.get('type', '')).split('.')[-1] == 'Resize' and step.get('scale') is not None:
            scale = step['scale']
    if scale is None:
        raise ValueError(
            "--shape is needed: the config's test pipeline has no Resize with a scale to take the export shape from"
        )
    width, height = (scale, scale) if isinstance(scale, int) else scale
    divisor = int(cfg.model.get('data_preprocessor', {}).get('pad_size_divisor', 1) or 1)
    return math.ceil(height / divisor) * divisor, math.ceil(width / divisor) * divisor


def check_image_shapes(shape: Tuple[int, int], dynamic: bool, size_divisor: int = 1) -> Sequence[Tuple[int, int]]:
    """Where the exported file is checked: the export shape and, for a dynamic file, a second size.

    The second size is odd when the data preprocessor does not pad (``size_divisor`` 1), else the next
    multiple of ``size_divisor``: what the network receives (YOLOv3's neck, for one, needs it).
    """
    if not dynamic:
        return [shape]
    other = []
    for size, fraction in zip(shape, (3 / 4, 5 / 6)):
        value = max(33, int(size * fraction))
        value = value | 1 if size_divisor <= 1 else math.ceil(value / size_divisor) * size_divisor
        other.append(value if value != size else value + max(size_divisor, 2))
    return [shape, tuple(other)]


def check_onnx(onnx_file: str, module: torch.nn.Module, inputs: Sequence[torch.Tensor], device: str = 'cpu') -> float:
    """Run ``onnx_file`` in onnxruntime and ``module`` in PyTorch on each of ``inputs``; compare.

    Returns:
        The largest absolute difference over all outputs and inputs.

    Raises:
        ValueError: The outputs differ by more than ``CHECK_ATOL + CHECK_RTOL * max|output|``.
    """
    session = inference_session(onnx_file, device)
    worst = 0.0
    for example in inputs:
        with torch.no_grad():
            expected = as_tuple(module(example))
        actual = run_session(session, example)
        difference = max_abs_difference(actual, expected)
        scale = max((e.abs().max().item() for e in expected if e.numel()), default=0.0)
        if not difference <= CHECK_ATOL + CHECK_RTOL * scale:
            raise ValueError(
                f'onnxruntime and PyTorch disagree on a {tuple(example.shape)} input: largest '
                f'difference {difference:.3g} (outputs up to {scale:.3g})'
            )
        worst = max(worst, difference)
    return worst


def check_image(detector: torch.nn.Module, shape: Tuple[int, int], batch: int, seed: int = 0) -> torch.Tensor:
    """A random image batch of ``shape``, normalised by the detector's data preprocessor (no padding)."""
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (batch, 3) + tuple(shape), generator=generator).float()
    preprocessor = detector.data_preprocessor
    mean = getattr(preprocessor, 'mean', None)
    std = getattr(preprocessor, 'std', None)
    if getattr(preprocessor, '_enable_normalize', False) and mean is not None:
        pixels = (pixels - mean.cpu()) / std.cpu()
    return pixels


def export_model(
    config: Union[str, Config],
    checkpoint: Optional[str],
    out_file: str,
    shape: Optional[Sequence[int]] = None,
    dynamic: bool = False,
    part: str = 'detector',
    cfg_options: Optional[dict] = None,
    device: str = 'cpu',
    seed: int = 0,
) -> dict:
    """Export the config's detector (or its backbone, ``part='backbone'``) to ``out_file`` and check it.

    Args:
        config: Config file or ``Config``.
        checkpoint: The weights; ``None`` exports the randomly initialised model (seeded with ``seed``).
        out_file: The ``.onnx`` file to write.
        shape: ``(H, W)`` of the export input; ``None``: :func:`default_export_shape`.
        dynamic: Batch, height and width symbolic in the file (else it takes exactly ``1 x 3 x H x W``).
        part: ``'detector'`` (what :class:`DetectorNetwork` describes) or ``'backbone'``.
        device: The torch device whose onnxruntime provider checks the file (``cpu``, ``cuda``, ...).

    Returns:
        A report: ``part``, the export ``shape``, ``dynamic``, the shapes checked and the largest
        onnxruntime / PyTorch ``difference``, and the file's ``layout`` metadata.
    """
    from ..utils import check_choice

    check_choice('part', part, PARTS)
    execution_providers(device)  # a device onnxruntime cannot check on fails here, before a file is written
    cfg = load_config(config, cfg_options)
    shape = default_export_shape(cfg) if shape is None else check_shape(shape)
    detector = build_detector(cfg, checkpoint, seed=seed)
    batch = 2 if dynamic else 1  # torch specialises a dimension of size 1: a dynamic batch needs 2
    example = check_image(detector, shape, batch, seed)
    if part == 'backbone':
        network = detector.backbone
        with torch.no_grad():
            num_outputs = len(as_tuple(network(example)))
        layout = dict(part='backbone', detector=type(detector).__name__, backbone=type(network).__name__)
        output_names = [f'feature.{i}' for i in range(num_outputs)]
    else:
        network = DetectorNetwork(detector).eval()
        layout = network.layout(example)
        output_names = network.output_names(layout)
    layout['input_shape'] = None if dynamic else list(example.shape)
    export_onnx(network, example, out_file, dynamic=dynamic, output_names=output_names, metadata=layout)
    divisor = int(getattr(detector.data_preprocessor, 'pad_size_divisor', 1) or 1)
    checked = [check_image(detector, hw, batch, seed + 1) for hw in check_image_shapes(shape, dynamic, divisor)]
    difference = check_onnx(out_file, network, checked, device)
    return dict(
        part=part,
        shape=shape,
        dynamic=dynamic,
        checked=[tuple(c.shape) for c in checked],
        difference=difference,
        layout=layout,
        out_file=out_file,
    )


__all__ = ['CHECK_ATOL', 'CHECK_RTOL', 'PARTS', 'check_onnx', 'check_shape', 'default_export_shape', 'export_model']
