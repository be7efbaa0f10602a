"""A fused CPU kernel for one ConvLSTM step with RegNet's composed light convolution.

:class:`~mmdet_rla.models.layers.ConvLSTMCell` with ``conv_type='light'`` (composed steps, no gate
norms) computes, per hidden channel ``n`` and gate ``g`` (paper Eq. 1 with the two grouped steps
composed, see :class:`~mmdet_rla.models.layers.LightRecurrentConv`)::

    P_g = K_g,x * x + K_g,h * h + b_g                     # two depthwise 3x3 convolutions per gate
    C'  = sigmoid(P_f) C + sigmoid(P_i) tanh(P_c),   H' = sigmoid(P_o) tanh(C')

Eager PyTorch runs that as eight depthwise convolutions and about twenty elementwise passes over
whole maps: the cell is memory-bound. ``csrc/light_conv_lstm.cpp`` computes each pixel's 72 taps and
its gates in one pass, and its backward pass recomputes the gates from ``x``, ``h`` and ``c`` rather
than saving them. The same function: the tests compare it with the cell's PyTorch path in float64
(values and gradients) and with ``torch.autograd.gradcheck``; float32 differs by rounding (its
``exp`` is a vectorised polynomial within 2 ulp of the library's).

The kernel is compiled on first use with ``torch.utils.cpp_extension`` (a C++ compiler and ninja
are needed; ``tools/setup_env.sh`` builds it) for the instruction set PyTorch reports for this CPU
(``torch.backends.cpu.get_cpu_capability()``, part of the build's name, so machines sharing a home
directory do not load each other's builds), and cached by PyTorch in ``TORCH_EXTENSIONS_DIR``
(default ``~/.cache/torch_extensions``). Where it cannot be built, the cells fall back to their
PyTorch path with one warning. ``MMDET_RLA_FUSED_OPS=0`` turns the kernel off.
"""

import logging
import os
import platform
import threading
import warnings
from pathlib import Path
from typing import List, Optional, Tuple

import torch

ENV_SWITCH = 'MMDET_RLA_FUSED_OPS'
SOURCE = Path(__file__).with_name('csrc') / 'light_conv_lstm.cpp'
# The instruction sets PyTorch dispatches to on x86, as compiler flags (other CPUs: the compiler's default).
_ISA_FLAGS = {
    'AVX512': ['-mavx2', '-mfma', '-mavx512f', '-mavx512dq', '-mavx512bw', '-mavx512vl'],
    'AVX2': ['-mavx2', '-mfma'],
}

_lock = threading.Lock()
_status: dict = {}  # 'loaded': bool, 'error': why not


def _build_flags() -> Tuple[str, List[str], List[str]]:
    """The build's name, compiler flags and linker flags for this CPU and this PyTorch."""
    capability = torch.backends.cpu.get_cpu_capability() if platform.machine() in ('x86_64', 'AMD64') else 'DEFAULT'
    cflags = ['-O3', *_ISA_FLAGS.get(capability, [])]
    ldflags = []
    # at::parallel_for is inlined from ATen's headers: with PyTorch's OpenMP backend it needs -fopenmp to run
    # in parallel (without it, it runs on one thread).
    if 'parallel backend: OpenMP' in torch.__config__.parallel_info():
        cflags.append('-fopenmp')
        ldflags.append('-fopenmp')
    return f'mmdet_rla_light_conv_lstm_{capability.lower()}', cflags, ldflags


def load_library(verbose: bool = False) -> bool:
    """Build (once per machine type) and load the kernel; ``False`` where it cannot be built (the
    reason: :func:`unavailable_reason`). Called by :func:`fused_available` on first use."""
    with _lock:
        if 'loaded' in _status:
            return _status['loaded']
        try:
            # Importing cpp_extension logs a warning about CUDA_HOME on machines without CUDA; it builds CPU code.
            cpp_logger = logging.getLogger('torch.utils.cpp_extension')
            level = cpp_logger.level
            cpp_logger.setLevel(logging.ERROR)
            try:
                from torch.utils import cpp_extension
            finally:
                cpp_logger.setLevel(level)
            name, cflags, ldflags = _build_flags()
            cpp_extension.load(
                name=name,
                sources=[str(SOURCE)],
                extra_cflags=cflags,
                extra_ldflags=ldflags,
                is_python_module=False,
                verbose=verbose,
            )
            _register_python_parts()
            _status.update(loaded=True)
        except Exception as error:  # noqa: BLE001  (no compiler, no ninja, a failed build: use the PyTorch path)
            _status.update(loaded=False, error=f'{type(error).__name__}: {error}'.strip())
            warnings.warn(
                f'mmdet_rla: the fused ConvLSTM kernel could not be built, so the cells use their PyTorch '
                f'path (same results, slower on CPU): {_status["error"][:500]}'
            )
        return _status['loaded']


def unavailable_reason() -> Optional[str]:
    """Why the kernel is not used (switched off, or the build's error), or ``None``."""
    if os.environ.get(ENV_SWITCH, '1') == '0':
        return f'{ENV_SWITCH}=0'
    return _status.get('error')


def _constant_under_compile(fn):
    """``torch.compile`` evaluates ``fn`` once while tracing and treats its result as a constant
    (a lock and a build cannot be traced)."""
    mark = getattr(getattr(torch, 'compiler', None), 'assume_constant_result', None)  # torch >= 2.1
    return fn if mark is None else mark(fn)


@_constant_under_compile
def fused_available() -> bool:
    """Whether the fused kernel is switched on (``MMDET_RLA_FUSED_OPS`` is not ``0``) and built
    (building it on the first call)."""
    if os.environ.get(ENV_SWITCH, '1') == '0':
        return False
    return load_library()


def _register_python_parts() -> None:
    """The autograd formula (the backward kernel) and, for ``torch.compile``, the outputs' shapes
    (once per process: :func:`load_library` calls it only on its first successful load)."""
    channels_last = torch.channels_last

    @torch.library.register_fake('mmdet_rla::light_conv_lstm_forward')
    def _(x, h, c, taps_x, taps_h, bias):
        return [torch.empty_like(x, memory_format=channels_last), torch.empty_like(x, memory_format=channels_last)]

    @torch.library.register_fake('mmdet_rla::light_conv_lstm_backward')
    def _(grad_h, grad_c, x, h, c, taps_x, taps_h, bias):
        def like_x():
            return torch.empty_like(x, memory_format=channels_last)

        return [
            like_x(),
            like_x(),
            like_x() if c is not None else x.new_empty(0),
            x.new_empty(taps_x.shape),
            x.new_empty(taps_h.shape),
            x.new_empty(bias.shape),
        ]  # contiguous

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)  # only the step's inputs: the backward kernel recomputes the gates
        ctx.with_cell_state = inputs[2] is not None

    def backward(ctx, grads):
        grad_h, grad_c = grads
        if grad_h is None and grad_c is None:
            return None, None, None, None, None, None
        grad_x, grad_h_prev, grad_c_prev, grad_taps_x, grad_taps_h, grad_bias = (
            torch.ops.mmdet_rla.light_conv_lstm_backward(grad_h, grad_c, *ctx.saved_tensors)
        )
        return (grad_x, grad_h_prev, grad_c_prev if ctx.with_cell_state else None, grad_taps_x, grad_taps_h, grad_bias)

    torch.library.register_autograd('mmdet_rla::light_conv_lstm_forward', backward, setup_context=setup_context)


def light_conv_lstm(
    x: torch.Tensor,
    h: torch.Tensor,
    c: Optional[torch.Tensor],
    taps_x: torch.Tensor,
    taps_h: torch.Tensor,
    bias: torch.Tensor,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """One ConvLSTM step ``(H', C')`` from ``x``, ``h`` and ``c`` (``None``: no previous cell state,
    hence no forget term), all ``(B, N, H, W)`` CPU float32/float64 tensors; the gates' composed
    depthwise taps ``taps_x``, ``taps_h`` ``(9, 4, N)`` (tap ``3 dy + dx``; gates input, forget,
    cell, output) and ``bias`` ``(4, N)``. ``H'`` and ``C'`` come back channels-last. Differentiable
    in every tensor argument (first order). Needs :func:`fused_available`.
    """
    # Channels-last here, so that what the backward pass keeps is what the kernel reads.
    x, h = x.contiguous(memory_format=torch.channels_last), h.contiguous(memory_format=torch.channels_last)
    if c is not None:
        c = c.contiguous(memory_format=torch.channels_last)
    new_h, new_c = torch.ops.mmdet_rla.light_conv_lstm_forward(x, h, c, taps_x, taps_h, bias)
    return new_h, new_c
