"""Whether a layer runs eagerly or is being recorded into a graph: the fast eager paths of the
layers (:func:`~mmdet_rla.models.layers.tanh`, :func:`~mmdet_rla.models.layers.ceil_avg_pool2d`,
the cells' in-place inference) step aside where a graph must hold the general form."""

import torch


def _compiler_flag(name: str) -> bool:
    # torch.compiler.is_compiling / is_exporting are missing from older torch releases (pyproject.toml
    # admits torch >= 2.0): there, nothing reports them.
    flag = getattr(getattr(torch, 'compiler', None), name, None)
    return bool(flag is not None and flag())


def is_exporting() -> bool:
    """Whether ``torch.export`` (hence ONNX's dynamo exporter) is tracing the call."""
    return _compiler_flag('is_exporting')


def is_recording() -> bool:
    """Whether the call is being recorded into a graph (TorchScript tracing or scripting, TorchDynamo
    for ``torch.compile`` / ``torch.export``) rather than run eagerly."""
    return torch.jit.is_tracing() or torch.jit.is_scripting() or _compiler_flag('is_compiling')


def is_recording_for_export() -> bool:
    """Whether the call is recorded into a graph that leaves PyTorch's eager runtime as written
    (TorchScript tracing or scripting, ``torch.export`` and hence ONNX): layers then record their plain
    equations, not their eager fast forms (tanh's sigmoid form, the fused kernels of
    :mod:`mmdet_rla.ops`). ``torch.compile`` is not such a recording: it keeps them."""
    return torch.jit.is_tracing() or torch.jit.is_scripting() or is_exporting()


def is_plain_inference() -> bool:
    """Whether nothing records the call: autograd is off (``torch.no_grad``, ``torch.inference_mode``)
    and no graph is being traced or compiled. A layer may then overwrite temporaries it created
    itself instead of allocating new ones."""
    return not torch.is_grad_enabled() and not is_recording()
