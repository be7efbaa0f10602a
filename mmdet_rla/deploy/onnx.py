"""ONNX export through ``torch.export`` and onnxruntime sessions.

The export is two steps, both torch's own: a strict ``torch.export`` (TorchDynamo traces the module;
height, width and optionally batch stay symbolic with ``Dim.DYNAMIC``), then ``torch.onnx.export`` of
that ``ExportedProgram`` (the dynamo exporter, which needs ``onnxscript``). A strict export is the check
that the module has no Python-side data-dependent branch; the same ``ExportedProgram`` then serves
both the ONNX file and any comparison in PyTorch.
"""

import contextlib
import io
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn
from torch.export import Dim

# ONNX metadata key under which this package records what a file holds (see ``read_metadata``).
METADATA_KEY = 'mmdet_rla'
Tensors = Union[torch.Tensor, Sequence[torch.Tensor]]


def dynamic_image_shapes(dynamic_batch: bool = True) -> Tuple[Dict[int, object]]:
    """``dynamic_shapes`` of a module whose one input is an image batch (N, C, H, W): H, W (and N) dynamic."""
    dims = {2: Dim.DYNAMIC, 3: Dim.DYNAMIC}
    if dynamic_batch:
        dims[0] = Dim.DYNAMIC
    return (dims,)


def export_program(
    module: nn.Module, inputs: torch.Tensor, dynamic: bool, dynamic_batch: bool = True
) -> torch.export.ExportedProgram:
    """Strict ``torch.export`` of ``module(inputs)``; with ``dynamic``, height and width (and batch) symbolic.

    ``module.forward`` takes the image batch as its one positional argument. A dynamic batch needs an
    example batch of at least 2 (torch specialises dimensions of size 1).
    """
    shapes = dynamic_image_shapes(dynamic_batch) if dynamic else None
    return torch.export.export(module, (inputs,), dynamic_shapes=shapes, strict=True)


def export_onnx(
    module: nn.Module,
    inputs: torch.Tensor,
    out_file: str,
    *,
    dynamic: bool,
    output_names: Optional[Sequence[str]] = None,
    metadata: Optional[dict] = None,
    dynamic_batch: bool = True,
) -> torch.export.ExportedProgram:
    """Export ``module(inputs)`` to ``out_file`` (ONNX) and return the intermediate ExportedProgram.

    Args:
        module: In eval mode; ``forward(inputs)`` returns a tensor or a flat tuple of tensors.
        inputs: Example input, (N, C, H, W).
        out_file: Path of the ``.onnx`` file (its folder is created).
        dynamic: Symbolic height and width (and batch, see ``dynamic_batch``); else the file takes
            exactly ``inputs.shape``.
        output_names: Names of the graph outputs.
        metadata: JSON-serialisable description stored in the file (:func:`read_metadata`).
    """
    program = export_program(module, inputs, dynamic, dynamic_batch=dynamic_batch)
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress
        onnx_program = torch.onnx.export(
            program, (inputs,), input_names=['inputs'], output_names=output_names, dynamo=True, verbose=False
        )
    if metadata is not None:
        onnx_program.model.metadata_props[METADATA_KEY] = json.dumps(metadata)
    folder = osp.dirname(osp.abspath(out_file))
    os.makedirs(folder, exist_ok=True)
    onnx_program.save(out_file, external_data=False)
    return program


def read_metadata(onnx_file: str) -> dict:
    """What :func:`export_onnx` recorded in ``onnx_file`` (an empty dict for other ONNX files)."""
    import onnx

    model = onnx.load(onnx_file, load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return json.loads(prop.value)
    return {}


def execution_providers(device: str = 'cpu') -> List[Union[str, Tuple[str, dict]]]:
    """onnxruntime's execution providers for the torch device ``device`` (``cpu``, ``cuda``, ``cuda:1``).

    A GPU device asks for its provider first (``cuda`` -> ``CUDAExecutionProvider``, from the
    ``onnxruntime-gpu`` package; the device index becomes its ``device_id``), then the CPU for what it
    lacks. If this onnxruntime has no such provider, this raises instead of silently running on the CPU.
    """
    import onnxruntime as ort

    try:
        target = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f'device must be a torch device such as cpu or cuda:0, got {device!r}') from None
    if target.type == 'cpu':
        return ['CPUExecutionProvider']
    provider = f'{target.type.upper()}ExecutionProvider'
    available = ort.get_available_providers()
    if provider not in available:
        raise ValueError(
            f"device {device!r} needs onnxruntime's {provider} (for NVIDIA GPUs: pip install "
            f'onnxruntime-gpu); this onnxruntime has {available}'
        )
    options = {} if target.index is None else {'device_id': target.index}
    return [(provider, options), 'CPUExecutionProvider']


def inference_session(onnx_file: str, device: str = 'cpu', num_threads: Optional[int] = None):
    """An ``onnxruntime.InferenceSession`` on the torch device ``device`` (see :func:`execution_providers`).

    ``num_threads``: intra-op threads (``None``: onnxruntime's default, one per physical core).
    """
    import onnxruntime as ort

    if not osp.isfile(onnx_file):
        raise ValueError(f'onnx_file: no such file {onnx_file!r}')
    from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument, InvalidGraph, InvalidProtobuf

    options = ort.SessionOptions()
    if num_threads is not None:
        options.intra_op_num_threads = num_threads
    providers = execution_providers(device)
    try:
        return ort.InferenceSession(onnx_file, sess_options=options, providers=providers)
    except (InvalidProtobuf, InvalidArgument, InvalidGraph) as error:  # not an ONNX file, or an empty one
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f'onnx_file {onnx_file!r} is not a model onnxruntime can load ({detail})') from None


def run_session(session, inputs: torch.Tensor) -> List[torch.Tensor]:
    """Run a one-input session on ``inputs``; outputs as tensors on ``inputs``' device.

    CPU tensors go in and out without a copy through numpy; other devices round-trip through the host.
    """
    feed = {session.get_inputs()[0].name: inputs.detach().cpu().numpy()}
    return [torch.from_numpy(np.asarray(out)).to(inputs.device) for out in session.run(None, feed)]


def max_abs_difference(actual: Sequence[torch.Tensor], expected: Sequence[torch.Tensor]) -> float:
    """Largest absolute difference between two equally long lists of equally shaped tensors."""
    actual, expected = list(actual), list(expected)
    if len(actual) != len(expected):
        raise ValueError(f'expected {len(expected)} outputs, got {len(actual)}')
    worst = 0.0
    for index, (a, e) in enumerate(zip(actual, expected)):
        if tuple(a.shape) != tuple(e.shape):
            raise ValueError(f'output {index}: shape {tuple(a.shape)} differs from {tuple(e.shape)}')
        if a.numel():
            worst = max(worst, (a.float().cpu() - e.float().cpu()).abs().max().item())
    return worst


def as_tuple(outputs: Tensors) -> Tuple[torch.Tensor, ...]:
    """A module's output (tensor or sequence of tensors) as a flat tuple."""
    return (outputs,) if isinstance(outputs, torch.Tensor) else tuple(outputs)


__all__ = [
    'METADATA_KEY',
    'as_tuple',
    'dynamic_image_shapes',
    'execution_providers',
    'export_onnx',
    'export_program',
    'inference_session',
    'max_abs_difference',
    'read_metadata',
    'run_session',
]
