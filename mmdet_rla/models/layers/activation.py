"""``tanh`` for the state paths, computed through the sigmoid where that is faster."""

import torch
from torch.autograd.function import once_differentiable

from .graph_mode import is_plain_inference, is_recording_for_export


class _TanhViaSigmoid(torch.autograd.Function):
    """``tanh(x) = 2 sigmoid(2x) - 1``, with tanh's own backward ``grad * (1 - tanh(x)^2)``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = torch.mul(x, 2).sigmoid_().mul_(2).sub_(1)  # one allocation, in-place passes
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (out,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, out)


def tanh(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """``torch.tanh(x)``; float32 CPU tensors go through ``2 sigmoid(2x) - 1``.

    On the CPU, PyTorch's float32 ``tanh`` kernel is several times slower than its ``sigmoid``
    (measured with torch 2.14 on a 2-core x86 CPU, 8x32x56x56: 0.85-0.90 ms against 0.17-0.23 ms
    for the sigmoid form; compiled, a fused ``tanh(x) * sigmoid(y)`` took 1.0 ms, the sigmoid form
    0.39 ms), and RegNet's ConvLSTM cells and RLA's state updates call it on every block. The two
    agree to within 2e-7 absolute (float32 rounding; relative precision is lost only where
    ``|tanh(x)|`` itself is below about 1e-5); the backward is tanh's own, ``grad * (1 - out^2)``
    (first order only). ``torch.compile`` traces the same function, so compiled and eager models
    agree. Other dtypes and devices, TorchScript tracing and ``torch.export`` (hence ONNX, which
    gets its ``Tanh`` op) use ``torch.tanh``.

    ``inplace=True`` lets the call overwrite ``x`` (a temporary the caller made and reads no more)
    where nothing records it (:func:`~mmdet_rla.models.layers.graph_mode.is_plain_inference`): the
    same operations without allocating the result (the same values, bit for bit on dense tensors).
    """
    sigmoid_form = x.device.type == 'cpu' and x.dtype == torch.float32 and not is_recording_for_export()
    if inplace and is_plain_inference():
        return x.mul_(2).sigmoid_().mul_(2).sub_(1) if sigmoid_form else x.tanh_()
    if sigmoid_form:
        return _TanhViaSigmoid.apply(x)
    return torch.tanh(x)
