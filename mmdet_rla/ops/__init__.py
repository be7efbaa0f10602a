"""Compiled kernels (CPU) for the layers whose eager PyTorch form is memory-bound; each layer keeps
its PyTorch path, which is used wherever a kernel does not apply or cannot be built."""

from .conv_lstm import fused_available, light_conv_lstm, load_library, unavailable_reason

__all__ = ['fused_available', 'light_conv_lstm', 'load_library', 'unavailable_reason']
