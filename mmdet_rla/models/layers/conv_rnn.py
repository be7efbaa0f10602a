"""Convolutional recurrent cells: ConvRNN, ConvGRU and ConvLSTM, with RegNet's light convolution.

These are the regulators of RegNet (Xu et al., "RegNet: Self-Regulated Network for Image
Classification"), usable on their own for any recurrence over feature maps. Every cell reads an
input ``x`` (``input_channels``) and its state, a tuple of ``hidden_channels`` maps (``(h,)`` or
``(h, c)``), and returns the new state; ``state[0]`` is always the hidden map ``h``. A missing
state (``None``) starts at zeros on ``x``'s device and in its dtype. ``h`` comes back in ``x``'s
memory format (NCHW or channels-last); ConvLSTM's ``c`` stays in the layout the cell computes in.

All gate pre-activations of a cell come from one *recurrent convolution* over ``[x, h]``:

- ``'light'`` (paper Eq. 1, Sec. III-B): the channels of ``x`` and ``h`` are interleaved so that
  group ``i`` holds ``(x_i, h_i)``; a 1x1 convolution with ``groups=N`` fuses each pair into
  ``k`` maps, and a 3x3 convolution with ``groups=N`` captures the spatial context of each group,
  giving ``k`` pre-activations (one per gate) for every hidden channel. ``N = hidden_channels``
  must equal ``input_channels``. Parameters: ``2kN + 9k^2N + kN`` (bias). By default the two
  steps run composed, as two depthwise 3x3 convolutions per gate (see :class:`LightRecurrentConv`).
- ``'conv3x3'`` (the paper's Table I baseline): one plain 3x3 convolution from
  ``input_channels + N`` to ``kN`` channels.

With ``norm_cfg`` every gate's pre-activation map is normalised on its own before its
nonlinearity (e.g. ``dict(type='GN', num_groups=1)``, a layer norm over each map, as the RLA-Net
authors' ConvGRU does); the default has none.
"""

from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import nn
from torch.autograd.function import once_differentiable

from ...ops import fused_available, light_conv_lstm
from ...utils import check_bool, check_choice, check_positive_int
from .activation import tanh
from .graph_mode import is_plain_inference, is_recording_for_export

RECURRENT_CONV_TYPES = ('light', 'conv3x3')
State = Tuple[torch.Tensor, ...]


def _depthwise_memory_format(x: torch.Tensor) -> torch.memory_format:
    """The layout the fused light convolution's depthwise convolutions run in on ``x``'s device.

    oneDNN (CPU) runs depthwise 3x3 convolutions about 1.3x faster channels-last, forward plus
    backward (measured at RegNet-50's stage shapes); cuDNN's NCHW depthwise path stays elsewhere.
    """
    return torch.channels_last if x.device.type == 'cpu' else torch.contiguous_format


def _like(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``t`` in ``x``'s memory format: the hidden map goes back to the layout the caller works in."""
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return t.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def _cpu_autocast() -> bool:
    """Whether CPU autocast is on (its convolutions then run in a lower precision)."""
    try:
        return torch.is_autocast_enabled('cpu')
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()


class LightRecurrentConv(nn.Module):
    """RegNet's light convolution over ``[x, h]``: interleave, 1x1 group conv, 3x3 group conv.

    For hidden channel ``i`` and gate ``j`` (paper Eq. 1 with its two-step grouped convolution)::

        u_i    = W1_i * (x_i, h_i)            # 1x1, groups=N: 2 -> k maps per group
        out_ij = W3_ij * u_i + b_ij           # 3x3, groups=N: k -> k maps per group

    Each hidden channel therefore sees only its own input channel and its own previous value, but
    with a 3x3 spatial context; channels mix outside the cell (RegNet's 1x1 fusion convolution).
    Against a plain 3x3 convolution from ``2N`` to ``N`` maps this needs ``18N/11`` times fewer
    multiply-adds for ``k = 1`` (paper Sec. III-B).

    No nonlinearity separates the two steps, so they compose into one 3x3 kernel per input::

        out_ij = K_ij,x * x_i + K_ij,h * h_i + b_ij,   K_ij,c = sum_m W3_ijm W1_imc

    With ``fuse_steps=True`` the cell computes exactly that: two depthwise 3x3 convolutions per
    gate. It is the same function of the same parameters (the state_dict is the paper's two
    steps), needing ``18k`` instead of ``2k + 9k^2`` multiply-adds per pixel and hidden channel
    (72 vs 152 for ConvLSTM; zero padding commutes with the bias-free 1x1 step, so borders agree
    too), with no interleaving copy and each gate's map dense (on a 2-core CPU a RegNet-50
    training step went from 1.85x to 1.56x ResNet-50's time, batch 8 at 224x224).
    ``fuse_steps=False`` runs the paper's two steps literally (the paper's FLOP counts count
    those). The default (``None``) composes when that saves multiply-adds, i.e. for ``k >= 2``
    (ConvGRU, ConvLSTM); a ConvRNN (``k = 1``: 11 vs 18) keeps the two steps.

    Args:
        channels: ``N``, channels of ``x`` and of ``h`` alike.
        num_gates: ``k``, pre-activation maps per hidden channel (ConvRNN 1, ConvGRU 3, ConvLSTM 4).
        bias: Give the 3x3 step a bias (the 1x1 step needs none: the 3x3 step is linear on it).
        fuse_steps: Run the two steps as the composed depthwise kernels (``None``: when ``k >= 2``).
    """

    def __init__(self, channels: int, num_gates: int, bias: bool = True, fuse_steps: Optional[bool] = None) -> None:
        super().__init__()
        check_positive_int('channels', channels)
        check_positive_int('num_gates', num_gates)
        if fuse_steps is not None:
            check_bool('fuse_steps', fuse_steps)
        self.channels = channels
        self.num_gates = num_gates
        self.fuse_steps = num_gates >= 2 if fuse_steps is None else fuse_steps
        self.pair_conv = nn.Conv2d(2 * channels, num_gates * channels, 1, groups=channels, bias=False)
        self.spatial_conv = nn.Conv2d(
            num_gates * channels, num_gates * channels, 3, padding=1, groups=channels, bias=bias
        )

    def _spatial_params(self, gates: Optional[Sequence[int]]) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The 3x3 step's weight ``(N, G, k, 3, 3)`` and bias ``(N, G)`` for ``gates`` (all: None)."""
        n, k = self.channels, self.num_gates
        weight = self.spatial_conv.weight.view(n, k, k, 3, 3)
        bias = None if self.spatial_conv.bias is None else self.spatial_conv.bias.view(n, k)
        if gates is not None:
            gates = list(gates)
            weight = weight[:, gates]
            bias = None if bias is None else bias[:, gates]
        return weight, bias

    def _compose(self, spatial: torch.Tensor) -> torch.Tensor:
        """``K (N, G, 2, 3, 3)``: ``K_ij,c = sum_m W3_ijm W1_imc``; ``c = 0`` reads x, ``c = 1`` h."""
        pair = self.pair_conv.weight.view(self.channels, self.num_gates, 2)
        return torch.einsum('ngmyx,nmc->ngcyx', spatial, pair)

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, gates: Optional[Sequence[int]] = None
    ) -> Tuple[torch.Tensor, ...]:
        """Return one pre-activation map ``(B, N, H, W)`` per gate of ``gates`` (default: all)."""
        n, h = self.channels, h.to(x.dtype)
        spatial, bias = self._spatial_params(gates)
        if not self.fuse_steps:
            pairs = torch.stack([x, h], dim=2).flatten(1, 2)  # (x_0, h_0, x_1, h_1, ...)
            out = F.conv2d(
                self.pair_conv(pairs),
                spatial.flatten(0, 1),
                None if bias is None else bias.flatten(),
                padding=1,
                groups=n,
            )
            return out.unflatten(1, (n, -1)).unbind(2)  # channel i * G + j is gate j of channel i
        kernel = self._compose(spatial)
        layout = _depthwise_memory_format(x)
        x, h = x.contiguous(memory_format=layout), h.contiguous(memory_format=layout)
        return tuple(
            F.conv2d(x, kernel[:, j, :1], None if bias is None else bias[:, j], padding=1, groups=n).add_(
                F.conv2d(h, kernel[:, j, 1:], padding=1, groups=n)
            )
            for j in range(kernel.shape[1])
        )

    def gate_bias(self, gate: int) -> torch.Tensor:
        """A view of the bias of ``gate`` (``N`` values), e.g. to initialise a forget gate."""
        return self.spatial_conv.bias.view(self.channels, self.num_gates)[:, gate]

    def composed_taps(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The composed kernels as the fused kernels read them (:mod:`mmdet_rla.ops`): the taps on
        ``x`` and on ``h``, each ``(9, G, N)`` (tap ``3 dy + dx``, gate, channel), and the bias
        ``(G, N)`` (zeros without one); differentiable in the parameters."""
        spatial, bias = self._spatial_params(None)
        kernel = self._compose(spatial)  # (N, G, 2, 3, 3)
        taps = kernel.permute(2, 3, 4, 1, 0).flatten(1, 2)  # (2, 9, G, N)
        bias = kernel.new_zeros(self.num_gates, self.channels) if bias is None else bias.t()
        return taps[0], taps[1], bias


class PlainRecurrentConv(nn.Module):
    """A plain 3x3 convolution from ``concat(x, h)`` to ``k`` gate maps of ``N`` channels each.

    Args:
        input_channels: Channels of ``x``.
        hidden_channels: ``N``, channels of ``h``.
        num_gates: ``k``.
        bias: Give the convolution a bias.
    """

    def __init__(self, input_channels: int, hidden_channels: int, num_gates: int, bias: bool = True) -> None:
        super().__init__()
        check_positive_int('input_channels', input_channels)
        check_positive_int('hidden_channels', hidden_channels)
        check_positive_int('num_gates', num_gates)
        self.channels = hidden_channels
        self.num_gates = num_gates
        self.conv = nn.Conv2d(input_channels + hidden_channels, num_gates * hidden_channels, 3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor, h: torch.Tensor, gates: Optional[Sequence[int]] = None) -> torch.Tensor:
        """Return one pre-activation map ``(B, N, H, W)`` per gate of ``gates`` (default: all)."""
        xh = torch.cat([x, h.to(x.dtype)], dim=1)
        if gates is None:
            out = self.conv(xh)
        else:
            gates = list(gates)
            weight = self.conv.weight.unflatten(0, (self.num_gates, self.channels))[gates].flatten(0, 1)
            bias = self.conv.bias
            if bias is not None:
                bias = bias.view(self.num_gates, self.channels)[gates].flatten()
            out = F.conv2d(xh, weight, bias, padding=1)
        return out.unflatten(1, (-1, self.channels)).unbind(1)  # channel j * N + i: gate j of channel i

    def gate_bias(self, gate: int) -> torch.Tensor:
        """A view of the bias of ``gate`` (``N`` values)."""
        return self.conv.bias.view(self.num_gates, self.channels)[gate]


def build_recurrent_conv(
    conv_type: str,
    input_channels: int,
    hidden_channels: int,
    num_gates: int,
    bias: bool = True,
    fuse_steps: Optional[bool] = None,
) -> nn.Module:
    """Build the recurrent convolution named by ``conv_type`` (``'light'`` or ``'conv3x3'``).

    ``fuse_steps`` applies to ``'light'`` only (see :class:`LightRecurrentConv`).
    """
    check_choice('conv_type', conv_type, RECURRENT_CONV_TYPES)
    if conv_type == 'conv3x3':
        return PlainRecurrentConv(input_channels, hidden_channels, num_gates, bias)
    if input_channels != hidden_channels:
        raise ValueError(
            "conv_type='light' pairs each input channel with one hidden channel, so "
            f'input_channels must equal hidden_channels, got {input_channels} and '
            f"{hidden_channels}; use conv_type='conv3x3' otherwise"
        )
    return LightRecurrentConv(hidden_channels, num_gates, bias, fuse_steps)


class _ConvRecurrentCell(nn.Module):
    """Shared parts: the recurrent convolution, optional gate norms, zero states, gate biases."""

    gate_names: Tuple[str, ...] = ()
    num_states = 1

    def __init__(
        self,
        input_channels: int,
        hidden_channels: int,
        conv_type: str = 'light',
        bias: bool = True,
        fuse_steps: Optional[bool] = None,
        norm_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__()
        self.input_channels = input_channels
        self.hidden_channels = hidden_channels
        self.conv_type = conv_type
        self.conv = build_recurrent_conv(
            conv_type, input_channels, hidden_channels, len(self.gate_names), bias, fuse_steps
        )
        # One norm per gate (in gate order), applied to its pre-activation map.
        self.gate_norms = (
            None
            if norm_cfg is None
            else nn.ModuleList(build_norm_layer(norm_cfg, hidden_channels)[1] for _ in self.gate_names)
        )

    def pre_activations(
        self, x: torch.Tensor, h: torch.Tensor, gates: Optional[Sequence[int]] = None
    ) -> Tuple[torch.Tensor, ...]:
        """The recurrent convolution's map for each gate of ``gates`` (default: all), normalised
        by that gate's norm when the cell has ``norm_cfg``."""
        maps = self.conv(x, h, gates)
        if self.gate_norms is None:
            return maps
        indices = range(len(self.gate_names)) if gates is None else gates
        return tuple(self.gate_norms[g](m) for g, m in zip(indices, maps))

    def init_state(self, x: torch.Tensor) -> State:
        """Zero state shaped like ``x`` spatially, on its device and in its dtype."""
        shape = (x.shape[0], self.hidden_channels, x.shape[2], x.shape[3])
        return tuple(x.new_zeros(shape) for _ in range(self.num_states))

    def gate_bias(self, gate: Union[str, int]) -> torch.Tensor:
        """A view of the bias of a gate, by name (see ``gate_names``) or index."""
        if isinstance(gate, str):
            check_choice('gate', gate, self.gate_names)
            gate = self.gate_names.index(gate)
        return self.conv.gate_bias(gate)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.input_channels:
            raise ValueError(
                f'{type(self).__name__} expects x of shape (B, {self.input_channels}, H, W), got {tuple(x.shape)}'
            )

    def extra_repr(self) -> str:
        return (
            f'input_channels={self.input_channels}, hidden_channels={self.hidden_channels}, '
            f'conv_type={self.conv_type!r}'
        )


class ConvRNNCell(_ConvRecurrentCell):
    r"""Vanilla convolutional RNN cell (paper Eq. 1).

    .. math::
        H^t = \tanh(W * [X^t, H^{t-1}] + b)

    Args:
        input_channels: Channels of ``x``.
        hidden_channels: Channels of ``h``.
        conv_type: ``'light'`` (RegNet's two-step grouped convolution; needs
            ``input_channels == hidden_channels``) or ``'conv3x3'``.
        bias: Give the recurrent convolution a bias.
        fuse_steps: Run the light convolution's two steps as one (see :class:`LightRecurrentConv`).
        norm_cfg: A norm for each gate's pre-activation map (``None``: no norm).
    """

    gate_names = ('candidate',)

    def forward(self, x: torch.Tensor, state: Optional[State] = None) -> State:
        """Return the new state ``(h,)``."""
        self._check_input(x)
        (h,) = self.init_state(x) if state is None else state
        return (_like(tanh(self.pre_activations(x, h)[0], inplace=True), x),)


class ConvGRUCell(_ConvRecurrentCell):
    r"""Convolutional GRU cell (Ballas et al. 2016), all convolutions light as in RegNet.

    .. math::
        Z^t &= \sigma(W_z * [X^t, H^{t-1}] + b_z),\quad R^t = \sigma(W_r * [X^t, H^{t-1}] + b_r) \\
        \tilde H^t &= \tanh(W_h * [X^t, R^t \odot H^{t-1}] + b_h) \\
        H^t &= (1 - Z^t) \odot H^{t-1} + Z^t \odot \tilde H^t

    ``W_r, W_z, W_h`` are the three gate rows of *one* recurrent convolution with ``3N`` outputs
    (gate order ``reset, update, candidate``): the gates come from ``[X, H]``, the candidate from a
    second, candidate-only pass over ``[X, R * H]``, so the reset gate acts on the hidden state
    before the convolution as in Ballas et al. One shared convolution is what the paper's counts
    show (Table I: +44K parameters for RegNet-20 with light ConvGRUs). A saturated update gate
    (``Z = 0``) keeps the hidden state unchanged.

    Args: as :class:`ConvRNNCell`.
    """

    gate_names = ('reset', 'update', 'candidate')

    def forward(self, x: torch.Tensor, state: Optional[State] = None) -> State:
        """Return the new state ``(h,)``."""
        self._check_input(x)
        (h,) = self.init_state(x) if state is None else state
        sigmoid = torch.sigmoid_ if is_plain_inference() else torch.sigmoid  # the maps are ours to overwrite
        reset, update = (sigmoid(pre) for pre in self.pre_activations(x, h, gates=(0, 1)))
        candidate = tanh(self.pre_activations(x, reset * h, gates=(2,))[0], inplace=True)
        return (_like(torch.lerp(h.to(candidate.dtype), candidate, update), x),)  # (1 - Z) H + Z H~


def _lstm_equations(
    input_pre: torch.Tensor,
    forget_pre: torch.Tensor,
    cell_pre: torch.Tensor,
    output_pre: torch.Tensor,
    c: Optional[torch.Tensor],
) -> Tuple[torch.Tensor, ...]:
    """``C' = F C + I G``, ``H = O tanh(C')`` from the pre-activations; ``c=None`` is a zero cell
    state, whose forget term (and forget gate) is skipped.

    Returns ``(H, C', I, F, G, O, tanh(C'))``: the state, then what the backward reads.
    """
    input_gate, cell_input, output_gate = torch.sigmoid(input_pre), tanh(cell_pre), torch.sigmoid(output_pre)
    new_c = input_gate * cell_input
    forget_gate = None
    if c is not None:
        forget_gate = torch.sigmoid(forget_pre)
        new_c.addcmul_(forget_gate, c)
    tanh_c = tanh(new_c)
    return output_gate * tanh_c, new_c, input_gate, forget_gate, cell_input, output_gate, tanh_c


def _lstm_inference(
    input_pre: torch.Tensor,
    forget_pre: torch.Tensor,
    cell_pre: torch.Tensor,
    output_pre: torch.Tensor,
    c: Optional[torch.Tensor],
) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(H, C')`` of :func:`_lstm_equations` computed in the pre-activation maps' memory, for
    inference (:func:`~mmdet_rla.models.layers.graph_mode.is_plain_inference`): the same operations
    (the same values, bit for bit on dense maps) with one new map instead of seven. Measured on a
    2-core CPU (one cell step, batch 8, RegNet-50's stage-1 shape 64x56x56): 28.7 -> 10.5 ms with
    glibc's default allocator, whose fresh multi-megabyte buffers page-fault on first touch, and
    14.0 -> 12.3 ms with one that keeps its heap (see docs/benchmark.md).
    """
    new_c = tanh(cell_pre, inplace=True).mul_(input_pre.sigmoid_())  # G * I
    if c is not None:
        new_c.addcmul_(forget_pre.sigmoid_(), c)
    return output_pre.sigmoid_().mul_(tanh(new_c)), new_c


class _LSTMGates(torch.autograd.Function):
    """ConvLSTM's gate arithmetic (:func:`_lstm_equations`) with a hand-written backward.

    The same values and gradients as autograd through the equations, with fewer passes over
    memory and fewer temporaries (the cell is memory-bound: its convolutions are tiny).
    """

    @staticmethod
    def forward(
        ctx,
        input_pre: torch.Tensor,
        forget_pre: torch.Tensor,
        cell_pre: torch.Tensor,
        output_pre: torch.Tensor,
        c: Optional[torch.Tensor],
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        ctx.set_materialize_grads(False)
        h, new_c, *gates_and_tanh_c = _lstm_equations(input_pre, forget_pre, cell_pre, output_pre, c)
        ctx.save_for_backward(c, *gates_and_tanh_c)
        return h, new_c

    @staticmethod
    @once_differentiable
    def backward(
        ctx, grad_h: Optional[torch.Tensor], grad_c: Optional[torch.Tensor]
    ) -> Tuple[Optional[torch.Tensor], ...]:
        c, input_gate, forget_gate, cell_input, output_gate, tanh_c = ctx.saved_tensors
        # dL/dC' = grad_c + grad_h * o * (1 - tanh(C')^2)
        if grad_h is None:  # (None gradients stand for zeros)
            grad_o = None
            grad_cell = grad_c if grad_c is not None else torch.zeros_like(tanh_c)
        else:
            grad_o = _sigmoid_backward(grad_h * tanh_c, output_gate)
            grad_cell = _tanh_backward(grad_h * output_gate, tanh_c)
            if grad_c is not None:
                grad_cell += grad_c
        grad_i = _sigmoid_backward(grad_cell * cell_input, input_gate)
        grad_g = _tanh_backward(grad_cell * input_gate, cell_input)
        if c is None:  # no forget term: the forget gate had no effect
            return grad_i, None, grad_g, grad_o, None
        grad_f = _sigmoid_backward(grad_cell * c, forget_gate)
        return grad_i, grad_f, grad_g, grad_o, grad_cell * forget_gate if ctx.needs_input_grad[4] else None


_sigmoid_backward = torch.ops.aten.sigmoid_backward
_tanh_backward = torch.ops.aten.tanh_backward


class ConvLSTMCell(_ConvRecurrentCell):
    r"""Convolutional LSTM cell (Shi et al. 2015, without peepholes), convolutions light as in RegNet.

    .. math::
        [I^t, F^t, O^t] &= \sigma(W_{i,f,o} * [X^t, H^{t-1}] + b_{i,f,o}),\quad
        G^t = \tanh(W_g * [X^t, H^{t-1}] + b_g) \\
        C^t &= F^t \odot C^{t-1} + I^t \odot G^t,\quad H^t = O^t \odot \tanh(C^t)

    One recurrent convolution gives the ``4N`` pre-activations (gate order ``input, forget, cell,
    output``, as in :class:`torch.nn.LSTM`). The state is ``(h, c)``. A saturated forget gate with
    a closed input gate keeps the cell state ``c``. Without a state the cell starts from
    ``h = c = 0`` (and skips the forget term).

    On the CPU, with the composed light convolution (the default for ConvLSTM), a step runs as the
    fused kernel of :mod:`mmdet_rla.ops` (the same function; see :meth:`_runs_fused` for where).

    Args: as :class:`ConvRNNCell`.
    """

    gate_names = ('input', 'forget', 'cell', 'output')
    num_states = 2

    def _runs_fused(self, x: torch.Tensor) -> bool:
        """Whether this step runs as the fused CPU kernel (:mod:`mmdet_rla.ops`): the composed light
        convolution without gate norms, a float32/float64 CPU input, no CPU autocast, the kernel
        switched on and built. Eager and under ``torch.compile`` (an opaque op with its own backward);
        TorchScript traces and ``torch.export`` (hence ONNX) record the PyTorch equations."""
        return (
            isinstance(self.conv, LightRecurrentConv)
            and self.conv.fuse_steps
            and self.gate_norms is None
            and x.device.type == 'cpu'
            and x.dtype in (torch.float32, torch.float64)
            and self.conv.pair_conv.weight.dtype == x.dtype
            and not _cpu_autocast()
            and not is_recording_for_export()
            and fused_available()
        )

    def forward(self, x: torch.Tensor, state: Optional[State] = None) -> State:
        """Return the new state ``(h, c)``."""
        self._check_input(x)
        if state is None:
            h, c = self.init_state(x)[0], None
        else:
            h, c = state
        if self._runs_fused(x):
            h, c = light_conv_lstm(x, h.to(x.dtype), None if c is None else c.to(x.dtype), *self.conv.composed_taps())
            return _like(h, x), c
        pre = self.pre_activations(x, h)  # input, forget, cell, output
        c = None if c is None else c.to(pre[0].dtype)
        if torch.is_grad_enabled() and not torch.jit.is_tracing():
            h, c = _LSTMGates.apply(*pre, c)  # the same values, with a cheaper backward
        elif is_plain_inference():
            h, c = _lstm_inference(*pre, c)  # the same values, in the maps' memory
        else:  # a graph being recorded keeps the plain equations
            h, c = _lstm_equations(*pre, c)[:2]
        return _like(h, x), c


CONV_RNN_CELLS = {'rnn': ConvRNNCell, 'gru': ConvGRUCell, 'lstm': ConvLSTMCell}


def build_conv_rnn_cell(
    kind: str,
    input_channels: int,
    hidden_channels: int,
    conv_type: str = 'light',
    bias: bool = True,
    fuse_steps: Optional[bool] = None,
    norm_cfg: Optional[dict] = None,
) -> _ConvRecurrentCell:
    """Build the cell named by ``kind`` (``'rnn'``, ``'gru'`` or ``'lstm'``)."""
    check_choice('regulator', kind, tuple(CONV_RNN_CELLS))
    return CONV_RNN_CELLS[kind](input_channels, hidden_channels, conv_type, bias, fuse_steps, norm_cfg)
