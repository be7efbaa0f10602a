"""Tolerances of the self-test, as data, and how it measures a difference.

Every comparison is a *norm-wise relative error*, ``||a - b||_2 / ||b||_2`` per tensor, computed in
float64 on the CPU, the worst over the tensors compared (each output map, the input gradient, all
parameter gradients as one vector). Element-wise relative errors would be dominated by the values
that happen to be near zero; the norm-wise error is what precision arguments bound.

Why these tolerances (``u`` is the unit roundoff, ``2**-p`` for ``p`` bits of significand: float32
``2**-24 = 6.0e-8``, TF32 and fp16 ``2**-11 = 4.9e-4``, bf16 ``2**-8 = 3.9e-3``):

- **Outputs** of a forward pass with fixed normalisation (eval mode) are a continuous function of
  the inputs and weights: their error is a small multiple of ``u`` (measured on the CPU, float32
  against float64, every family at full size: at most 4.4e-7; autocast against float32: bf16 6.7e-3,
  fp16 8e-4). The tolerance is about ``8 u`` for autocast; for float32 it is ``1e-4``, between
  float32's errors and TF32's (whose ``u`` is 8000 times larger: output errors of 1e-4 to 1e-3 expected,
  not measured here): a GPU left in TF32 mode fails, float32 rounding from any convolution algorithm
  passes.
- **Gradients** of a ReLU network are discontinuous: wherever rounding moves a pre-activation
  across zero (or changes a max-pool's choice) the gradient of that element changes entirely. Under
  autocast such elements are many; their share grows like the forward error and their effect on the
  norm-wise error like its square root, so gradient errors scale like ``sqrt(u)``, not ``u`` (measured on
  the CPU, every family, batch 2 at 224x224: bf16 input gradients 0.08-0.13 from float32, and at toy sizes
  fp16 0.02-0.045, bf16 0.1-0.13). The autocast tolerance is ``8 sqrt(u)``: 0.18 for fp16, 0.5 for bf16 --
  a gradient with wrong signs, zeros or garbage is off by about 1 or more. In float32 such crossings are
  rare events: some networks and inputs have none (3e-7 from float64), others a few, whose weight is
  large (measured on the CPU at 224x224: RLA-ResNet-50 2.7e-3 input / 4.0e-3 parameter gradients with
  ``torch.tanh``, 1.5e-3 / 7e-4 with the CPU's sigmoid-form ``tanh``; RegNet-50 GRU 1.3e-3 / 2.3e-3;
  mmdet's ResNet-50, RoR and RegNet-LSTM 3e-7). The float32 gradient tolerance is ``1e-2``, and at least
  ``BASELINE_FACTOR`` times the CPU's own float32 error on the same problem: a half-precision backward
  pass (2e-2 to 5e-2 measured under fp16) or a TF32 one still fails it.
- ``torch.compile`` against eager float32: two float32 computations of the same function whose
  rounding differs (fused kernels, other reduction orders): twice the float32 output tolerance, the
  float32 gradient tolerance (the same rare kink crossings).
- mmcv's RoIAlign on the GPU against the CPU: bilinear interpolation of float32 values, summed in
  other orders (the backward with atomic adds): a few ``u``; ``1e-5`` leaves two orders of margin.
"""

import contextlib
import math
from typing import Dict, Iterator, Optional, Sequence

import torch

UNIT_ROUNDOFF: Dict[str, float] = {'float32': 2.0**-24, 'amp-fp16': 2.0**-11, 'amp-bf16': 2.0**-8}
# What each comparison may differ by: outputs and gradients (see above).
OUTPUT_TOLERANCE: Dict[str, float] = {'float32': 1e-4, 'amp-fp16': 4e-3, 'amp-bf16': 3e-2, 'compile': 2e-4}
GRADIENT_TOLERANCE: Dict[str, float] = {'float32': 1e-2, 'amp-fp16': 0.18, 'amp-bf16': 0.5, 'compile': 1e-2}
BASELINE_FACTOR = 10.0
ROI_ALIGN_TOLERANCE = 1e-5
AMP_DTYPES: Dict[str, torch.dtype] = {'amp-fp16': torch.float16, 'amp-bf16': torch.bfloat16}


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """``||actual - expected|| / ||expected||`` in float64 (``inf`` for a non-finite ``actual``)."""
    if tuple(actual.shape) != tuple(expected.shape):
        raise ValueError(f'shapes differ: {tuple(actual.shape)} against {tuple(expected.shape)}')
    a = actual.detach().to('cpu', torch.float64)
    e = expected.detach().to('cpu', torch.float64)
    if not torch.isfinite(a).all():
        return math.inf
    scale = e.norm().item()
    difference = (a - e).norm().item()
    return difference / scale if scale > 0 else difference


def worst_relative_error(actual: Sequence[torch.Tensor], expected: Sequence[torch.Tensor]) -> float:
    if len(actual) != len(expected):
        raise ValueError(f'{len(actual)} tensors against {len(expected)}')
    return max(relative_error(a, e) for a, e in zip(actual, expected))


def all_finite(tensors: Sequence[torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors)


# ----------------------------------------------------------------------------------------- TF32
def tf32_state() -> Dict[str, Optional[bool]]:
    """Whether float32 matrix products and cuDNN convolutions may run in TF32 (``None``: unreadable)."""
    state: Dict[str, Optional[bool]] = {}
    for key, read in (
        ('matmul', lambda: torch.backends.cuda.matmul.allow_tf32),
        ('cudnn', lambda: torch.backends.cudnn.allow_tf32),
    ):
        try:
            state[key] = bool(read())
        except RuntimeError:  # torch >= 2.9 refuses to answer after a mix of its old and new TF32 settings
            state[key] = None
    return state


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """Set TF32 for matrix products and cuDNN (through one API, torch's legacy flags), then restore."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
