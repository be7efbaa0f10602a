"""Convolutional recurrent cells: ConvRNN, ConvGRU and ConvLSTM, with RegNet's light convolution.

These are the regulators of RegNet (Xu et al., "RegNet: Self-Regulated Network for Image
Classification"), usable on their own for any recurrence over feature maps. Every cell reads an
input ``x`` (``input_channels``) and its state, a tuple of ``hidden_channels`` maps (``(h,)`` or
``(h, c)``), and returns the new state; ``state[0]`` is always the hidden map ``h``. A missing
state (``None``) starts at zeros on ``x``'s device and in its dtype.

All gate pre-activations of a cell come from one *recurrent convolution* over ``[x, h]``:

- ``'light'`` (paper Eq. 1, Sec. III-B): the channels of ``x`` and ``h`` are interleaved so that
  group ``i`` holds ``(x_i, h_i)``; a 1x1 convolution with ``groups=N`` fuses each pair into
  ``k`` maps, and a 3x3 convolution with ``groups=N`` captures the spatial context of each group,
  giving ``k`` pre-activations (one per gate) for every hidden channel. ``N = hidden_channels``
  must equal ``input_channels``. Parameters: ``2kN + 9k^2N + kN`` (bias).
- ``'conv3x3'`` (the paper's Table I baseline): one plain 3x3 convolution from
  ``input_channels + N`` to ``kN`` channels.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ...utils import check_choice, check_positive_int

RECURRENT_CONV_TYPES = ('light', 'conv3x3')
State = Tuple[torch.Tensor, ...]


class LightRecurrentConv(nn.Module):
    """RegNet's light convolution over ``[x, h]``: interleave, 1x1 group conv, 3x3 group conv.

    For hidden channel ``i`` and gate ``j`` (paper Eq. 1 with its two-step grouped convolution)::

        u_i   = W1_i * (x_i, h_i)            # 1x1, groups=N: 2 -> k maps per group
        out_ij = W3_ij * u_i + b_ij           # 3x3, groups=N: k -> k maps per group

    Each hidden channel therefore sees only its own input channel and its own previous value, but
    with a 3x3 spatial context; channels mix outside the cell (RegNet's 1x1 fusion convolution).
    Against a plain 3x3 convolution from ``2N`` to ``N`` maps this needs ``18N/11`` times fewer
    multiply-adds for ``k = 1`` (paper Sec. III-B).

    Args:
        channels: ``N``, channels of ``x`` and of ``h`` alike.
        num_gates: ``k``, pre-activation maps per hidden channel (ConvRNN 1, ConvGRU 3, ConvLSTM 4).
        bias: Give the 3x3 step a bias (the 1x1 step needs none: the 3x3 step is linear on it).
    """

    def __init__(self, channels: int, num_gates: int, bias: bool = True) -> None:
        super().__init__()
        check_positive_int('channels', channels)
        check_positive_int('num_gates', num_gates)
        self.channels = channels
        self.num_gates = num_gates
        self.pair_conv = nn.Conv2d(2 * channels, num_gates * channels, 1, groups=channels, bias=False)
        self.spatial_conv = nn.Conv2d(
            num_gates * channels, num_gates * channels, 3, padding=1, groups=channels, bias=bias)

    def forward(self, x: torch.Tensor, h: torch.Tensor,
                gates: Optional[Sequence[int]] = None) -> torch.Tensor:
        """Return the pre-activations ``(B, len(gates), N, H, W)`` of ``gates`` (default: all)."""
        # (x_0, h_0, x_1, h_1, ...): each group of the 1x1 conv sees one channel of each.
        pairs = torch.stack([x, h.to(x.dtype)], dim=2).flatten(1, 2)
        fused = self.pair_conv(pairs)
        n, k = self.channels, self.num_gates
        if gates is None:
            out = self.spatial_conv(fused)
            num_out = k
        else:
            # Only the requested output maps: slice the weight rows of every group.
            gates = list(gates)
            weight = self.spatial_conv.weight.view(n, k, k, 3, 3)[:, gates].flatten(0, 1)
            bias = self.spatial_conv.bias
            if bias is not None:
                bias = bias.view(n, k)[:, gates].flatten()
            out = F.conv2d(fused, weight, bias, padding=1, groups=n)
            num_out = len(gates)
        # Output channel i * k + j is gate j of hidden channel i: put gates first.
        return out.unflatten(1, (n, num_out)).transpose(1, 2)

    def gate_bias(self, gate: int) -> torch.Tensor:
        """A view of the bias of ``gate`` (``N`` values), e.g. to initialise a forget gate."""
        return self.spatial_conv.bias.view(self.channels, self.num_gates)[:, gate]


class PlainRecurrentConv(nn.Module):
    """A plain 3x3 convolution from ``concat(x, h)`` to ``k`` gate maps of ``N`` channels each.

    Args:
        input_channels: Channels of ``x``.
        hidden_channels: ``N``, channels of ``h``.
        num_gates: ``k``.
        bias: Give the convolution a bias.
    """

    def __init__(self, input_channels: int, hidden_channels: int, num_gates: int,
                 bias: bool = True) -> None:
        super().__init__()
        check_positive_int('input_channels', input_channels)
        check_positive_int('hidden_channels', hidden_channels)
        check_positive_int('num_gates', num_gates)
        self.channels = hidden_channels
        self.num_gates = num_gates
        self.conv = nn.Conv2d(input_channels + hidden_channels, num_gates * hidden_channels, 3,
                              padding=1, bias=bias)

    def forward(self, x: torch.Tensor, h: torch.Tensor,
                gates: Optional[Sequence[int]] = None) -> torch.Tensor:
        """Return the pre-activations ``(B, len(gates), N, H, W)`` of ``gates`` (default: all)."""
        xh = torch.cat([x, h.to(x.dtype)], dim=1)
        if gates is None:
            out = self.conv(xh)
            num_out = self.num_gates
        else:
            gates = list(gates)
            weight = self.conv.weight.unflatten(0, (self.num_gates, self.channels))[gates].flatten(0, 1)
            bias = self.conv.bias
            if bias is not None:
                bias = bias.view(self.num_gates, self.channels)[gates].flatten()
            out = F.conv2d(xh, weight, bias, padding=1)
            num_out = len(gates)
        return out.unflatten(1, (num_out, self.channels))

    def gate_bias(self, gate: int) -> torch.Tensor:
        """A view of the bias of ``gate`` (``N`` values)."""
        return self.conv.bias.view(self.num_gates, self.channels)[gate]


def build_recurrent_conv(conv_type: str, input_channels: int, hidden_channels: int,
                         num_gates: int, bias: bool = True) -> nn.Module:
    """Build the recurrent convolution named by ``conv_type`` (``'light'`` or ``'conv3x3'``)."""
    check_choice('conv_type', conv_type, RECURRENT_CONV_TYPES)
    if conv_type == 'conv3x3':
        return PlainRecurrentConv(input_channels, hidden_channels, num_gates, bias)
    if input_channels != hidden_channels:
        raise ValueError("conv_type='light' pairs each input channel with one hidden channel, so "
                         f'input_channels must equal hidden_channels, got {input_channels} and '
                         f'{hidden_channels}; use conv_type=\'conv3x3\' otherwise')
    return LightRecurrentConv(hidden_channels, num_gates, bias)


class _ConvRecurrentCell(nn.Module):
    """Shared parts: the recurrent convolution, zero states, access to gate biases."""

    gate_names: Tuple[str, ...] = ()
    num_states = 1

    def __init__(self, input_channels: int, hidden_channels: int, conv_type: str = 'light',
                 bias: bool = True) -> None:
        super().__init__()
        self.input_channels = input_channels
        self.hidden_channels = hidden_channels
        self.conv_type = conv_type
        self.conv = build_recurrent_conv(conv_type, input_channels, hidden_channels,
                                         len(self.gate_names), bias)

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
            raise ValueError(f'{type(self).__name__} expects x of shape (B, {self.input_channels}, H, W), '
                             f'got {tuple(x.shape)}')

    def extra_repr(self) -> str:
        return (f'input_channels={self.input_channels}, hidden_channels={self.hidden_channels}, '
                f'conv_type={self.conv_type!r}')


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
    """

    gate_names = ('candidate', )

    def forward(self, x: torch.Tensor, state: Optional[State] = None) -> State:
        """Return the new state ``(h,)``."""
        self._check_input(x)
        (h, ) = self.init_state(x) if state is None else state
        return (torch.tanh(self.conv(x, h)[:, 0]), )


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
        (h, ) = self.init_state(x) if state is None else state
        reset, update = torch.sigmoid(self.conv(x, h, gates=(0, 1))).unbind(1)
        candidate = torch.tanh(self.conv(x, reset * h, gates=(2, ))[:, 0])
        return ((1 - update) * h + update * candidate, )


class ConvLSTMCell(_ConvRecurrentCell):
    r"""Convolutional LSTM cell (Shi et al. 2015, without peepholes), convolutions light as in RegNet.

    .. math::
        [I^t, F^t, O^t] &= \sigma(W_{i,f,o} * [X^t, H^{t-1}] + b_{i,f,o}),\quad
        G^t = \tanh(W_g * [X^t, H^{t-1}] + b_g) \\
        C^t &= F^t \odot C^{t-1} + I^t \odot G^t,\quad H^t = O^t \odot \tanh(C^t)

    One recurrent convolution gives the ``4N`` pre-activations (gate order ``input, forget, cell,
    output``, as in :class:`torch.nn.LSTM`). The state is ``(h, c)``. A saturated forget gate with
    a closed input gate keeps the cell state ``c``.

    Args: as :class:`ConvRNNCell`.
    """

    gate_names = ('input', 'forget', 'cell', 'output')
    num_states = 2

    def forward(self, x: torch.Tensor, state: Optional[State] = None) -> State:
        """Return the new state ``(h, c)``."""
        self._check_input(x)
        h, c = self.init_state(x) if state is None else state
        pre = self.conv(x, h)
        input_gate, forget_gate, output_gate = torch.sigmoid(pre[:, [0, 1, 3]]).unbind(1)
        cell_input = torch.tanh(pre[:, 2])
        c = forget_gate * c + input_gate * cell_input
        return output_gate * torch.tanh(c), c


CONV_RNN_CELLS = {'rnn': ConvRNNCell, 'gru': ConvGRUCell, 'lstm': ConvLSTMCell}


def build_conv_rnn_cell(kind: str, input_channels: int, hidden_channels: int,
                        conv_type: str = 'light', bias: bool = True) -> _ConvRecurrentCell:
    """Build the cell named by ``kind`` (``'rnn'``, ``'gru'`` or ``'lstm'``)."""
    check_choice('regulator', kind, tuple(CONV_RNN_CELLS))
    return CONV_RNN_CELLS[kind](input_channels, hidden_channels, conv_type, bias)
