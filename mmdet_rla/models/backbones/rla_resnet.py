"""RLA-ResNet and RLA-ResNeXt: Recurrent Layer Aggregation (Zhao, Fang & Li, NeurIPS 2021).

For block ``t`` of stage ``s`` (paper Eq. 11 and Fig. 3)::

    y^t = F^t(concat(x^{t-1}, h^{t-1}))                 # the residual branch also reads h
    x^t = ReLU(y^t + x^{t-1})                           # the usual residual sum
    h^t = Conv3x3_s(tanh(BN^t(h^{t-1} + Conv1x1_s(y^t))))  # pre-activated ConvRNN, shared per stage

``h`` has ``rla_channels`` (k) channels, starts at zero and is average-pooled whenever the main
path halves its resolution. Compared with the authors' mmdet 2.x file this implementation:
creates ``h`` on the input's device and dtype (no hard-coded GPU device), pools ``h`` in ceil mode
so any input size works, skips the update after the last block in detection mode (so every
parameter receives a gradient and DDP needs no ``find_unused_parameters``), supports BasicBlock
depths and CIFAR stems, and keeps mmdet's ResNet knobs.

The ablations of the paper's Table 6 are arguments of the same backbone (one code path; each
matches the authors' file of the same name in ``models/``):

=====  ===========================  ==========================================================
row    authors' file                arguments
=====  ===========================  ==========================================================
b      ``resnet_rla_us.py``         ``share_rla=False`` (one 1x1 conv and recurrent unit per block)
c      ``resnet_rla_rh.py``         ``rla_exchange=False`` (blocks do not read ``h``)
d      ``resnet_rla_lstm.py``       ``rla_cell='lstm'`` (``_gru.py``: ``rla_cell='gru'``)
e      ``resnet_rla_v1post.py``     ``rla_activation='post'``: ``h = tanh(BN(Conv3x3(h + .)))``
f-j    ``resnet_rla_v2.py`` - v6    ``rla_input`` (``'residual'``/``'output'``/``'identity'``) x
                                    ``rla_integration`` (before / after the recurrent unit)
=====  ===========================  ==========================================================
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck
from mmdet.models.backbones.resnext import Bottleneck as ResNeXtBottleneck
from mmdet.models.backbones.resnext import ResNeXt
from mmengine.model import ModuleList
from torch import nn

from ...registry import register_model
from ...utils import check_bool, check_choice, check_positive_int
from ..layers.activation import tanh
from ..layers.channel_attention import CHANNEL_ATTENTIONS, build_channel_attention
from ..layers.concat_conv import conv_over_concat, input_columns
from ..layers.conv_rnn import ConvGRUCell, ConvLSTMCell, State
from ..layers.folding import fold_projection, is_plain_1x1
from ..layers.pooling import CeilAvgPool2d
from .base import (
    ArchSettings,
    ResNetBase,
    StatefulLayer,
    bottleneck_last_conv,
    bottleneck_last_conv_input,
    family_arch_settings,
)

RLA_INPUTS = ('residual', 'output', 'identity')
RLA_INTEGRATIONS = ('before_recurrence', 'after_recurrence')
RLA_CELLS = ('rnn', 'lstm', 'gru')
RLA_ACTIVATIONS = ('pre', 'post')
RLA_OUTPUTS = (None, 'bn_relu', 'bn_tanh', 'state')
# The authors' ConvGRU normalises each gate map over all its channels and positions (a layer norm).
GRU_GATE_NORM = dict(type='GN', num_groups=1, eps=1e-6)


@dataclass(frozen=True)
class RLADesign:
    """How an RLA module is wired; the defaults are the proposed module (paper Fig. 3).

    Each field is the :class:`RLAResNet` argument of the same name without its ``rla_`` prefix
    (``shared``: ``share_rla``); see there.
    """

    input: str = 'residual'
    integration: str = 'before_recurrence'
    cell: str = 'rnn'
    activation: str = 'pre'
    shared: bool = True
    exchange: bool = True
    output: str = 'bn_relu'


class _RLABlockMixin:
    """The parts shared by the RLA blocks: read ``concat(x, h)``, hand the RLA path its new information.

    A block names its last conv and norm (``last_conv_name``, ``last_norm_name``) and splits its
    residual branch at the last conv's input (:meth:`branch`).
    """

    with_cp: bool
    downsample: Optional[nn.Module]
    relu: nn.Module
    conv1: nn.Conv2d
    last_conv_name: str
    last_norm_name: str

    def __init__(
        self,
        inplanes: int,
        planes: int,
        *,
        rla_channels: int = 32,
        channel_attention: Optional[str] = None,
        se_reduction: int = 16,
        eca_kernel_size: int = 3,
        rla_input: str = 'residual',
        fold_conv_out: bool = True,
        **kwargs,
    ) -> None:
        # The host mmdet block (next in the MRO) builds its layers from **kwargs; the RLA parts go on top.
        super().__init__(inplanes, planes, **kwargs)  # type: ignore[call-arg]
        self._add_rla_parts(
            rla_channels,
            kwargs.get('conv_cfg'),
            channel_attention,
            planes * self.expansion,  # type: ignore[attr-defined]
            se_reduction,
            eca_kernel_size,
            rla_input,
            fold_conv_out,
        )

    def _add_rla_parts(
        self,
        rla_channels: int,
        conv_cfg: Optional[dict],
        channel_attention: Optional[str],
        out_channels: int,
        se_reduction: int,
        eca_kernel_size: int,
        rla_input: str,
        fold_conv_out: bool,
    ) -> None:
        self.rla_input = rla_input
        self.fold_conv_out = fold_conv_out
        # The first conv reads k more input channels: h next to x (none when the block does not read h).
        self.reads_state = rla_channels > 0
        if self.reads_state:
            conv = self.conv1
            self.conv1 = build_conv_layer(
                conv_cfg,
                conv.in_channels + rla_channels,
                conv.out_channels,
                conv.kernel_size,
                stride=conv.stride,
                padding=conv.padding,
                dilation=conv.dilation,
                groups=conv.groups,
                bias=conv.bias is not None,
            )
        self.attention = build_channel_attention(
            channel_attention, out_channels, se_reduction=se_reduction, eca_kernel_size=eca_kernel_size
        )

    def read_input(self, x: torch.Tensor, h: torch.Tensor, x_term: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The first conv over the block input and the state, ``conv1(concat(x, h))``, computed as
        ``W_x * x + W_h * h`` without building the ``(C + k)``-channel concatenation
        (:func:`~mmdet_rla.models.layers.conv_over_concat`).

        ``x_term``: ``W_x * x``, already computed by the stage together with the previous block's
        ``Conv1_s`` (:meth:`RLAStage.merges_conv_out`; a plain 1x1 ``conv1`` only).
        """
        if x_term is None:
            return conv_over_concat(self.conv1, (x, h) if self.reads_state else (x,))
        if not self.reads_state:
            return x_term.contiguous()
        channels = x.shape[1]
        return x_term + F.conv2d(h, input_columns(self.conv1, channels, channels + h.shape[1]))

    def branch(
        self, x: torch.Tensor, h: torch.Tensor, x_term: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(u, y)``: the input of the residual branch's last conv and the branch output ``y``
        (its last norm's, before channel attention); ``x_term`` as in :meth:`read_input`."""
        raise NotImplementedError

    def folded_conv_out(self, conv_out: nn.Module, u: torch.Tensor) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
        """``conv_out(y)`` as one 1x1 conv over ``u`` (weight, bias), where that is the same function
        and cheaper.

        ``y = BN(W u)``: with a 1x1 last conv (bottlenecks) and the norm using its running
        statistics (inference, and training with mmdet's ``norm_eval=True``), ``conv_out``, the norm
        and the conv compose into one ``k x m`` linear map
        (:func:`~mmdet_rla.models.layers.fold_projection`) that reads ``u`` (``m`` channels) instead
        of ``y`` (``C = 4m``). Composing costs ``k C m`` multiply-adds per call and saves
        ``k (C - m)`` per pixel, so it is done where ``N H W (C - m) > C m`` (at 224x224 and batch 1
        that leaves out stages 3 and 4, at detection sizes none). ``None`` (read ``y``) otherwise,
        and with ``fold_conv_out=False``, channel attention or plugins after the last conv, a norm in
        training mode or convs other than plain 1x1 ones.
        """
        if not self.fold_conv_out or self.attention is not None or getattr(self, 'with_plugins', False):
            return None
        batch, m, height, width = u.shape
        c = conv_out.in_channels
        if batch * height * width * (c - m) <= c * m:
            return None
        return fold_projection(conv_out, getattr(self, self.last_conv_name), getattr(self, self.last_norm_name))

    def forward(
        self,
        x: torch.Tensor,
        h: torch.Tensor,
        conv_out: Optional[nn.Module] = None,
        x_term: Optional[torch.Tensor] = None,
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Return ``(ReLU(y + identity), new)``: the block output and, given the stage's ``conv_out``,
        ``conv_out`` of what the RLA path reads of this block (``rla_input``: ``y``, the output or the
        shortcut ``identity``), else ``None``. ``x_term``: see :meth:`read_input`.

        The shortcut is added in ``y``'s memory, as mmdet's blocks do, unless ``y`` is still needed:
        by ``conv_out``'s backward, when it read ``y`` itself (not folded) while autograd records.
        """

        def inner_forward(
            x: torch.Tensor, h: torch.Tensor, x_term: Optional[torch.Tensor]
        ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
            u, y = self.branch(x, h, x_term)
            if self.attention is not None:
                y = self.attention(y)
            identity = x if self.downsample is None else self.downsample(x)
            new, keep_y = None, False
            if conv_out is not None and self.rla_input == 'residual':
                folded = self.folded_conv_out(conv_out, u)
                if folded is None:
                    new, keep_y = conv_out(y), torch.is_grad_enabled()
                else:
                    new = F.conv2d(u, *folded)
            elif conv_out is not None and self.rla_input == 'identity':
                new = conv_out(identity)
            out = self.relu(y + identity if keep_y else y.add_(identity))
            if conv_out is not None and self.rla_input == 'output':
                new = conv_out(out)
            return out, new

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(inner_forward, x, h, x_term, use_reentrant=False)
        return inner_forward(x, h, x_term)


class RLABasicBlock(_RLABlockMixin, BasicBlock):
    """mmdet BasicBlock whose first 3x3 conv reads ``concat(x, h)``: ``C_in + k`` channels."""

    last_conv_name = 'conv2'
    last_norm_name = 'norm2'

    def branch(
        self, x: torch.Tensor, h: torch.Tensor, x_term: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        u = self.relu(self.norm1(self.read_input(x, h, x_term)))
        return u, self.norm2(self.conv2(u))


class RLABottleneck(_RLABlockMixin, Bottleneck):
    """mmdet Bottleneck whose first 1x1 conv reads ``concat(x, h)``: ``C_in + k`` channels."""

    last_conv_name = 'conv3'
    last_norm_name = 'norm3'

    def branch(
        self, x: torch.Tensor, h: torch.Tensor, x_term: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        u = bottleneck_last_conv_input(self, self.read_input(x, h, x_term))
        return u, bottleneck_last_conv(self, u)


class RLAResNeXtBottleneck(RLABottleneck, ResNeXtBottleneck):
    """mmdet ResNeXt Bottleneck (grouped 3x3 conv) whose first 1x1 conv reads ``concat(x, h)``.

    Arguments as :class:`RLABottleneck` plus mmdet's ``groups``, ``base_width`` and ``base_channels``;
    the MRO puts ResNeXt's constructor (conv widths, grouped ``conv2``) under RLABottleneck's.
    """


class RLAStage(StatefulLayer):
    """One stage: its blocks plus the RLA parts they share.

    ``conv_out`` (1x1, C_out -> k) and the recurrent unit (``recurrent_conv``, a 3x3 conv k -> k,
    or ``recurrent_cell``, a ConvLSTM/ConvGRU cell) are shared by every block of the stage
    (``conv_outs`` / ``recurrent_convs`` / ``recurrent_cells``, one per update, when
    ``design.shared`` is False); ``norms`` holds one norm per state update. ``num_updates`` is the
    number of blocks after which the state is updated: all of them, except after the very last
    block of a detection backbone, whose update nothing would read. The state is a tuple:
    ``(h,)``, or ``(h, c)`` with ConvLSTM cells.

    Args:
        blocks: The stage's RLA blocks, in order.
        out_channels: Output channels of the blocks.
        rla_channels: Channels ``k`` of the state.
        pool_state: Average-pool the state (2x2, ceil mode) after the first block, whose stride > 1.
        num_updates: How many blocks update the state (``len(blocks)`` or ``len(blocks) - 1``).
        design: The wiring of the RLA module (:class:`RLADesign`).
        with_rla_output: Build what the classification output ``concat(x, rla_output(h))`` needs.
    """

    def __init__(
        self,
        blocks: Sequence[nn.Module],
        out_channels: int,
        rla_channels: int,
        *,
        conv_cfg: Optional[dict],
        norm_cfg: dict,
        pool_state: bool,
        num_updates: int,
        design: RLADesign = RLADesign(),
        with_rla_output: bool = False,
    ) -> None:
        super().__init__()
        self.blocks = ModuleList(blocks)  # mmengine's, so init_weights reaches the blocks
        self.design = design
        num_units = 1 if design.shared else num_updates
        conv_outs = [build_conv_layer(conv_cfg, out_channels, rla_channels, 1, bias=False) for _ in range(num_units)]
        units = [self._build_recurrent_unit(conv_cfg, rla_channels) for _ in range(num_units)]
        unit_name = 'recurrent_conv' if design.cell == 'rnn' else 'recurrent_cell'
        if design.shared:
            self.conv_out = conv_outs[0]
            self.add_module(unit_name, units[0])
        else:
            self.conv_outs = nn.ModuleList(conv_outs)
            self.add_module(unit_name + 's', nn.ModuleList(units))
        self._unit_name = unit_name
        self.norms = nn.ModuleList(build_norm_layer(norm_cfg, rla_channels)[1] for _ in range(num_updates))
        # ceil mode keeps h the same size as x, whose strided convs round up, for odd sizes too.
        self.state_pool = CeilAvgPool2d(2) if pool_state else None
        self.with_rla_output = with_rla_output
        self.output_norm = (
            build_norm_layer(norm_cfg, rla_channels)[1] if with_rla_output and design.output != 'state' else None
        )

    def _build_recurrent_unit(self, conv_cfg: Optional[dict], k: int) -> nn.Module:
        if self.design.cell == 'lstm':  # the authors' cell: one bias-free 3x3 conv over [u, h] -> 4 gates
            return ConvLSTMCell(k, k, conv_type='conv3x3', bias=False)
        if self.design.cell == 'gru':  # theirs: 3x3 convs with biases, each gate map layer-normalised
            return ConvGRUCell(k, k, conv_type='conv3x3', bias=True, norm_cfg=GRU_GATE_NORM)
        return build_conv_layer(conv_cfg, k, k, 3, padding=1, bias=False)

    def _parts(self, t: int) -> Tuple[nn.Module, nn.Module]:
        """``(conv_out, recurrent unit)`` of update ``t``: the stage's shared pair, or update ``t``'s own."""
        if self.design.shared:
            return self.conv_out, getattr(self, self._unit_name)
        return self.conv_outs[t], getattr(self, self._unit_name + 's')[t]

    def merges_conv_out(self, t: int) -> bool:
        """Whether ``Conv1x1`` of block ``t``'s output runs as one convolution with the first conv of
        block ``t + 1``.

        With ``design.input='output'`` both read block ``t``'s output ``x^t``. Stacking the rows of
        ``Conv1x1`` (``k x C``) on the ``x``-columns of the next ``conv1`` (``P x C``) gives one
        1x1 convolution with ``k + P`` outputs that reads ``x^t`` once, forward and backward (its
        input gradient is one convolution instead of two and a sum): the same function of the same
        parameters. Measured per stage on a 2-core CPU (RLA-ResNet-50, batch 8, 224x224): forward
        plus backward 1-4 % faster (about 30 ms of a 1 s classifier training step), inference level.
        Done for plain bias-free 1x1 convolutions (bottlenecks, no ``conv_cfg`` DCN) when the
        blocks have ``fold_conv_out=True``.
        """
        if self.design.input != 'output' or t + 1 >= len(self.blocks):
            return False
        conv_out, following = self._parts(t)[0], self.blocks[t + 1]
        return (
            following.fold_conv_out
            and is_plain_1x1(conv_out)
            and conv_out.bias is None
            and is_plain_1x1(following.conv1)
            and following.conv1.bias is None
        )

    def conv_out_and_next_input(self, t: int, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(Conv1x1(x), W_x * x)``: block ``t``'s new information and the ``x``-part of block
        ``t + 1``'s first conv, from one convolution over block ``t``'s output ``x``
        (:meth:`merges_conv_out`)."""
        conv_out, conv1 = self._parts(t)[0], self.blocks[t + 1].conv1
        weight = torch.cat([conv_out.weight, conv1.weight[:, : x.shape[1]]])
        return F.conv2d(x, weight).split([conv_out.out_channels, conv1.out_channels], dim=1)

    def forward(self, x: torch.Tensor, state: State) -> Tuple[torch.Tensor, State]:
        x_term = None  # W_x * x of the next block's first conv, when computed with Conv1x1 (merges_conv_out)
        for t, block in enumerate(self.blocks):
            updates = t < len(self.norms)
            merges = updates and self.merges_conv_out(t)
            # Otherwise the block applies conv_out to what the RLA path reads of it (design.input): it
            # knows when Conv1x1(y) can be computed from its last conv's input, and whether y must be kept.
            x, info = block(x, state[0], self._parts(t)[0] if updates and not merges else None, x_term)
            x_term = None
            if merges:
                info, x_term = self.conv_out_and_next_input(t, x)
            if t == 0 and self.state_pool is not None:
                state = tuple(self.state_pool(s) for s in state)
            if updates:
                state = self.update(t, state, info)
        return x, state

    def update(self, t: int, state: State, info: torch.Tensor) -> State:
        """One step of the RLA path: the state after block ``t`` from the state before it and
        ``info = Conv1x1(new)``, the block's new information through ``conv_out`` (computed by the
        block, :meth:`_RLABlockMixin.forward`, or with the next block's first conv,
        :meth:`merges_conv_out`).

        ConvRNN (``design.cell='rnn'``), new information added before the recurrent unit (proposed)
        or after it (``'after_recurrence'``)::

            h = R(h + Conv1x1(new))          or          h = R(h) + Conv1x1(new)

        ConvLSTM / ConvGRU cells read ``tanh(BN(Conv1x1(new)))`` as their input (the authors'
        ``resnet_rla_lstm.py`` / ``_gru.py``).
        """
        unit = self._parts(t)[1]
        norm = self.norms[t]
        if self.design.cell != 'rnn':
            return unit(tanh(norm(info)), state)
        (h,) = state
        if self.design.integration == 'before_recurrence':
            return (self.recurrent_step(unit, norm, h + info),)
        return (self.recurrent_step(unit, norm, h) + info,)

    def recurrent_step(self, conv: nn.Module, norm: nn.Module, h: torch.Tensor) -> torch.Tensor:
        """The ConvRNN unit ``R``: pre-activated ``Conv3x3(tanh(BN(h)))`` (proposed) or
        post-activated ``tanh(BN(Conv3x3(h)))`` (Table 6 e)."""
        if self.design.activation == 'pre':
            return conv(tanh(norm(h)))
        return tanh(norm(conv(h)))

    def rla_output(self, h: torch.Tensor) -> torch.Tensor:
        """What the classifier reads of ``h``: ``ReLU(BN(h))`` (proposed), ``tanh(BN(h))`` or ``h``."""
        if self.output_norm is None:
            return h
        h = self.output_norm(h)
        return torch.relu(h) if self.design.output == 'bn_relu' else tanh(h)


@register_model
class RLAResNet(ResNetBase):
    r"""ResNet with Recurrent Layer Aggregation (RLA-Net, Zhao et al., NeurIPS 2021).

    Each block ``t`` reads the aggregated state ``h`` alongside its input (paper Eq. 11, Fig. 3):

    .. math::
        y^t = F^t(\mathrm{concat}(x^{t-1}, h^{t-1})),\quad x^t = \mathrm{ReLU}(y^t + x^{t-1}),\quad
        h^t = \mathrm{Conv3}_s(\tanh(\mathrm{BN}^t(h^{t-1} + \mathrm{Conv1}_s(y^t))))

    Decisions on what the paper leaves open (all defaults follow ``shared/notes/design.md``):

    - ``h`` is pooled with a 2x2 average pool in **ceil mode** (the authors' floor mode crashes on
      odd stage sizes); with even sizes both agree.
    - For detection (``with_rla_output=False``) ``h`` is not returned (paper Sec. 4.3), and the
      update after the last block is skipped: its norm would receive no gradient. The backbone then
      has 23,789,568 parameters at depth 50 (the authors' file: 23,789,632, the extra 64 unused).
    - ``rla_input='residual'`` feeds the paper's ``y`` to ``Conv1_s``. The authors' code aliases
      ``y`` to the block output before an in-place add and ReLU, so their released weights were
      trained with ``rla_input='output'``; the checkpoint converter sets that.
    - Depths 18/34 (no authors' code) put ``h`` into the BasicBlock's first 3x3 conv.

    Args:
        depth: 18, 34, 50, 101 or 152 (``stem_type='imagenet'``); 20, 32, 44, 56, 110 or 164
            (``stem_type='cifar'``).
        rla_channels: Channels ``k`` of the RLA state (paper: 32).
        channel_attention: ``None``, ``'se'`` or ``'eca'`` inside each block, before the sum.
        se_reduction: SE reduction ratio.
        eca_kernel_sizes: ECA kernel size per stage (RLA-ECA nets: 5, 5, 5, 7).
        rla_input: What the shared 1x1 conv reads: ``'residual'`` (the paper's ``y``), ``'output'``
            (``ReLU(y + identity)``; the authors' code through its alias, and Table 6's v3/v4) or
            ``'identity'`` (the block's input ``x^{t-1}`` on its shortcut, after the downsample
            projection if any; v5/v6).
        rla_integration: ``'before_recurrence'`` (``h = R(h + Conv1(.))``, proposed; v3/v5) or
            ``'after_recurrence'`` (``h = R(h) + Conv1(.)``; v2/v4/v6).
        rla_cell: The recurrent unit ``R``: ``'rnn'`` (a 3x3 conv with BN and tanh), or the
            authors' ``'lstm'`` / ``'gru'`` cells (Table 6 d), which read ``tanh(BN(Conv1(.)))``.
        rla_activation: ``'pre'`` (``R(h) = Conv3(tanh(BN(h)))``, proposed) or ``'post'``
            (``tanh(BN(Conv3(h)))``, Table 6 e); ``'rnn'`` cells only.
        share_rla: Share ``Conv1`` and ``R`` by the blocks of a stage (the recurrence) or give
            every block its own (Table 6 b).
        rla_exchange: Let the blocks read ``h`` (``concat(x, h)``); ``False`` leaves the main CNN a
            plain ResNet that only feeds the RLA path (Table 6 c), which only the classification
            output reads (so it needs ``with_rla_output=True``).
        rla_output: What the classification output appends to ``x``: ``'bn_relu'``
            (``ReLU(BN(h))``), ``'bn_tanh'`` (the authors' ``resnet_rla_v1.py``) or ``'state'``
            (``h`` as is); ``None``: ``'bn_relu'`` for pre-activated ConvRNN units, ``'state'`` for
            the others, whose ``h`` already leaves an activation (as the authors' files do).
        with_rla_output: Return ``concat(x, rla_output(h))`` for the last stage, the classification
            output of the paper (2048 + k channels at depth 50); also keeps the last update.
        fold_conv_out: Compute ``Conv1_s`` together with its neighbouring convolutions where that is
            the same function and cheaper: with ``rla_input='residual'``, from the bottleneck's last
            conv input through its eval-mode norm
            (:meth:`_RLABlockMixin.folded_conv_out`); with ``'output'``, in one convolution with the
            next block's first conv (:meth:`RLAStage.merges_conv_out`). ``False`` runs the literal
            ``Conv1_s(.)`` everywhere (the paper's FLOP count); outputs, gradients and state_dict are
            the same either way.
        **kwargs: Every :class:`ResNetBase` / mmdet ``ResNet`` argument (``out_indices``,
            ``frozen_stages`` (stage ``i`` freezes its RLA parts too), ``norm_cfg``, ``norm_eval``,
            ``with_cp``, ``style``, ``init_cfg``, ``zero_init_residual``, ``stem_type``, ...).

    Example:
        >>> import torch
        >>> from mmdet_rla.models import RLAResNet
        >>> model = RLAResNet(depth=50).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 97, 131))]
        [(1, 256, 25, 33), (1, 512, 13, 17), (1, 1024, 7, 9), (1, 2048, 4, 5)]
    """

    arch_settings, cifar_arch_settings = family_arch_settings(RLABasicBlock, RLABottleneck)

    def __init__(
        self,
        depth: int,
        rla_channels: int = 32,
        channel_attention: Optional[str] = None,
        se_reduction: int = 16,
        eca_kernel_sizes: Sequence[int] = (5, 5, 5, 7),
        rla_input: str = 'residual',
        rla_integration: str = 'before_recurrence',
        rla_cell: str = 'rnn',
        rla_activation: str = 'pre',
        share_rla: bool = True,
        rla_exchange: bool = True,
        rla_output: Optional[str] = None,
        with_rla_output: bool = False,
        fold_conv_out: bool = True,
        **kwargs,
    ) -> None:
        check_positive_int('rla_channels', rla_channels)
        check_choice('channel_attention', channel_attention, CHANNEL_ATTENTIONS)
        self.rla_design = self._check_design(
            rla_input, rla_integration, rla_cell, rla_activation, share_rla, rla_exchange, rla_output
        )
        check_bool('with_rla_output', with_rla_output)
        check_bool('fold_conv_out', fold_conv_out)
        if not rla_exchange and not with_rla_output:
            raise ValueError(
                'rla_exchange=False needs with_rla_output=True: when the blocks do not read h and '
                'the output does not append it, nothing reads the RLA path'
            )
        if isinstance(eca_kernel_sizes, int):
            eca_kernel_sizes = (eca_kernel_sizes,)
        eca_kernel_sizes = tuple(eca_kernel_sizes)
        self.rla_channels = rla_channels
        self.channel_attention = channel_attention
        self.se_reduction = se_reduction
        self.eca_kernel_sizes = eca_kernel_sizes
        self.rla_input = rla_input
        self.with_rla_output = with_rla_output
        self.fold_conv_out = fold_conv_out
        super().__init__(depth, **kwargs)
        if channel_attention == 'eca' and len(eca_kernel_sizes) < self.num_stages:
            raise ValueError(
                f'eca_kernel_sizes must have one odd size per stage ({self.num_stages}), got {eca_kernel_sizes!r}'
            )
        if with_rla_output:
            self.feat_dim += rla_channels

    @staticmethod
    def _check_design(
        rla_input: str,
        rla_integration: str,
        rla_cell: str,
        rla_activation: str,
        share_rla: bool,
        rla_exchange: bool,
        rla_output: Optional[str],
    ) -> RLADesign:
        check_choice('rla_input', rla_input, RLA_INPUTS)
        check_choice('rla_integration', rla_integration, RLA_INTEGRATIONS)
        check_choice('rla_cell', rla_cell, RLA_CELLS)
        check_choice('rla_activation', rla_activation, RLA_ACTIVATIONS)
        check_bool('share_rla', share_rla)
        check_bool('rla_exchange', rla_exchange)
        check_choice('rla_output', rla_output, RLA_OUTPUTS)
        if rla_cell != 'rnn':
            # A ConvLSTM/ConvGRU cell reads the new information as its input and has its own activations.
            for name, value, default in (
                ('rla_integration', rla_integration, 'before_recurrence'),
                ('rla_activation', rla_activation, 'pre'),
            ):
                if value != default:
                    raise ValueError(
                        f"{name}={value!r} needs rla_cell='rnn' (got rla_cell={rla_cell!r}, "
                        f'whose cell reads the new information as its input); '
                        f'keep {name}={default!r}'
                    )
        if rla_output is None:
            rla_output = 'bn_relu' if rla_cell == 'rnn' and rla_activation == 'pre' else 'state'
        return RLADesign(
            input=rla_input,
            integration=rla_integration,
            cell=rla_cell,
            activation=rla_activation,
            shared=share_rla,
            exchange=rla_exchange,
            output=rla_output,
        )

    def block_kwargs(self, stage_index: int) -> Dict[str, Any]:
        """The RLA arguments every block of stage ``stage_index`` receives."""
        eca_sizes = self.eca_kernel_sizes
        return dict(
            rla_channels=self.rla_channels if self.rla_design.exchange else 0,
            channel_attention=self.channel_attention,
            se_reduction=self.se_reduction,
            eca_kernel_size=eca_sizes[min(stage_index, len(eca_sizes) - 1)],
            rla_input=self.rla_design.input,
            fold_conv_out=self.fold_conv_out,
        )

    def make_res_layer(self, **kwargs) -> RLAStage:
        stage_index = len(self.res_layers)  # mmdet's ResNet appends each stage after building it
        is_last_stage = stage_index == self.num_stages - 1
        blocks = super().make_res_layer(**self.block_kwargs(stage_index), **kwargs)
        keep_last_update = not is_last_stage or self.with_rla_output
        return RLAStage(
            list(blocks),
            kwargs['planes'] * kwargs['block'].expansion,
            self.rla_channels,
            conv_cfg=kwargs.get('conv_cfg'),
            norm_cfg=kwargs['norm_cfg'],
            pool_state=kwargs['stride'] != 1,
            num_updates=len(blocks) if keep_last_update else len(blocks) - 1,
            design=self.rla_design,
            with_rla_output=is_last_stage and self.with_rla_output,
        )

    def init_state(self, x: torch.Tensor) -> State:
        """``h^0 = 0`` (and ``c^0 = 0`` for ConvLSTM), shaped like the stem output, on its device and
        in its dtype."""
        shape = (x.shape[0], self.rla_channels, x.shape[2], x.shape[3])
        return tuple(x.new_zeros(shape) for _ in range(2 if self.rla_design.cell == 'lstm' else 1))

    def stage_output(self, stage_index: int, x: torch.Tensor, state: State) -> torch.Tensor:
        stage = getattr(self, self.res_layers[stage_index])
        if not stage.with_rla_output:
            return x
        return torch.cat([x, stage.rla_output(state[0])], dim=1)

    def widen_resnet_tensor(
        self, key: str, resnet_value: torch.Tensor, own_value: torch.Tensor
    ) -> Optional[torch.Tensor]:
        """A ResNet block's first conv into ours, which reads ``concat(x, h)``: the ResNet's weight on the
        ``x``-columns, zeros on the ``k`` columns that read ``h``.

        With those zeros every block computes the ResNet's branch, ``F(concat(x, h)) = F(x)``, whatever ``h``
        holds, so the warm-started network is the ResNet. The zeros' gradient, ``dL/dy`` against ``h``, is not
        zero (``h`` is not, after the first block), so the blocks start reading the state at the first step;
        the RLA path itself (``Conv1_s``, the recurrent unit, its norms) gets gradients from the second.
        """
        expected = (resnet_value.shape[0], resnet_value.shape[1] + self.rla_channels) + tuple(resnet_value.shape[2:])
        if not key.endswith('.conv1.weight') or tuple(own_value.shape) != expected:
            return None
        widened = torch.zeros_like(own_value)
        widened[:, : resnet_value.shape[1]] = resnet_value
        return widened

    def widened_note(self, keys: List[str]) -> str:
        return (
            f'the first conv of {len(keys)} blocks reads h too: its {self.rla_channels} h-columns start at '
            "zero, so that each block computes the ResNet's branch"
        )


@register_model
class RLAResNeXt(RLAResNet):
    r"""ResNeXt with Recurrent Layer Aggregation: mmdet's ResNeXt blocks (grouped 3x3 conv) with the
    RLA state of :class:`RLAResNet`.

    The authors' ``rla_resnext50_32x4d`` / ``rla_resnext101_32x4d`` (and their ``_se`` / ``_eca``
    variants, ``channel_attention='se'`` / ``'eca'``): the first 1x1 conv of every block reads
    ``concat(x, h)``, everything else is as in :class:`RLAResNet`.

    Args:
        depth: 50, 101 or 152 (ImageNet stem).
        groups: Cardinality (32 for 32x4d).
        base_width: Width per group in the first stage (4 for 32x4d).
        **kwargs: Every :class:`RLAResNet` argument (the RLA design, ``channel_attention``,
            ``with_rla_output``, ``out_indices``, ``frozen_stages``, ``norm_cfg``, ``with_cp``, ...).

    Example:
        >>> import torch
        >>> from mmdet_rla.models import RLAResNeXt
        >>> model = RLAResNeXt(depth=50, groups=32, base_width=4).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 64))]
        [(1, 256, 16, 16), (1, 512, 8, 8), (1, 1024, 4, 4), (1, 2048, 2, 2)]
    """

    # mmdet ResNeXt's depths, with the RLA block.
    arch_settings: ArchSettings = {
        depth: (RLAResNeXtBottleneck, blocks) for depth, (_, blocks) in ResNeXt.arch_settings.items()
    }

    def __init__(self, depth: int, groups: int = 32, base_width: int = 4, **kwargs) -> None:
        check_positive_int('groups', groups)
        check_positive_int('base_width', base_width)
        check_choice('stem_type', kwargs.get('stem_type', 'imagenet'), ('imagenet',))
        self.groups = groups
        self.base_width = base_width
        super().__init__(depth, **kwargs)

    def block_kwargs(self, stage_index: int) -> Dict[str, Any]:
        return dict(
            super().block_kwargs(stage_index),
            groups=self.groups,
            base_width=self.base_width,
            base_channels=self.base_channels,
        )
