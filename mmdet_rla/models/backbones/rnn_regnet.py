"""RegNet: the RNN-regulated ResNet (Xu, Pan, Pan, Hoi, Yi & Xu, "RegNet: Self-Regulated Network
for Image Classification", IEEE TNNLS 2022 / arXiv:2101.00590).

A convolutional RNN (the *regulator*) runs along the blocks of a stage, one time step per block. It
reads the block's first feature map ``X2`` and hands its hidden state ``H`` back to the block,
which fuses ``concat(features, ReLU(BN(H)))`` with a 1x1 convolution (paper Eqs. 2 and 3).

Registered as ``RNNRegNet``: mmdet already registers ``RegNet`` (RegNetX/Y, Radosavovic et al.).
The decisions on what the paper leaves open are listed in :class:`RNNRegNet`.
"""

from typing import List, Optional, Sequence, Tuple

import torch
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck
from mmengine.model import ModuleList, Sequential
from torch import nn

from ...registry import register_model
from ...utils import check_bool, check_choice, check_indices, check_positive_int
from ..layers.channel_attention import SELayer
from ..layers.concat_conv import conv_over_concat
from ..layers.conv_rnn import CONV_RNN_CELLS, RECURRENT_CONV_TYPES, State, build_conv_rnn_cell
from ..layers.pooling import CeilAvgPool2d
from .base import ResNetBase, StatefulLayer, family_arch_settings

REGULATORS = tuple(CONV_RNN_CELLS)  # 'rnn', 'gru', 'lstm'
STATE_TRANSITIONS = (None, 'conv3x3', 'conv1x1', 'reset')
REGULATOR_RESOLUTIONS = ('output', 'input')
# Per stem: the state transition that reproduces the paper's parameter counts (see RNNRegNet).
_DEFAULT_TRANSITION = {'imagenet': 'conv3x3', 'cifar': 'reset'}
_DEFAULT_SE_REDUCTION = {'imagenet': 16, 'cifar': 8}


class _RegulatedBlockMixin:
    """The parts both RegNet blocks share: regulator step, state norm, fusion conv, SE.

    ``forward(x, state, cell)`` returns ``(out, new_state)``. With ``regulated=False`` the block is
    the plain mmdet block (plus SE when enabled) and passes ``state`` through untouched.
    """

    with_cp: bool
    downsample: Optional[nn.Module]
    relu: nn.Module
    stride: int

    def _add_regnet_parts(
        self,
        planes: int,
        *,
        regulated: bool,
        with_se: bool,
        se_reduction: int,
        cell_stride: int,
        conv_cfg: Optional[dict],
        norm_cfg: dict,
    ) -> None:
        self.regulated = regulated
        self.attention = SELayer(planes * self.expansion, se_reduction) if with_se else None
        # Where the regulator steps: ``cell_stride`` is its resolution relative to the block input.
        self.cell_stride = cell_stride
        self.cell_input_pool = None
        self.state_pool = None
        if not regulated:
            return
        # ceil mode everywhere: pooled maps match the strided convs' outputs for odd sizes too.
        if cell_stride != self.first_map_stride:  # X2 still at the input resolution: bring it down
            factor = cell_stride // self.first_map_stride
            self.cell_input_pool = CeilAvgPool2d(factor)
        if cell_stride != self.stride:  # stepped above the output resolution: bring the state down
            factor = self.stride // cell_stride
            self.state_pool = CeilAvgPool2d(factor)
        self.state_norm = build_norm_layer(norm_cfg, planes)[1]  # the "BN" of ReLU(BN(H))
        self.fusion_conv = build_conv_layer(conv_cfg, 2 * planes, planes, 1, bias=False)
        self.fusion_norm = build_norm_layer(norm_cfg, planes)[1]

    @property
    def first_map_stride(self) -> int:
        """Stride between the block input and ``X2``."""
        raise NotImplementedError

    def regulate(self, x2: torch.Tensor, state: Optional[State], cell: nn.Module) -> Tuple[torch.Tensor, State]:
        """One regulator step on ``X2``: the new state and ``ReLU(BN(H))`` for the fusion conv."""
        cell_input = x2 if self.cell_input_pool is None else self.cell_input_pool(x2)
        state = cell(cell_input, state)
        if self.state_pool is not None:
            state = tuple(self.state_pool(s) for s in state)
        return self.relu(self.state_norm(state[0])), state

    def fuse(self, features: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """``ReLU(BN(W_fuse * concat(features, hidden)))``: the 1x1 fusion of Eqs. 2/3."""
        # conv_over_concat: the 1x1 conv over the two parts, without building the 2N-channel concatenation.
        return self.relu(self.fusion_norm(conv_over_concat(self.fusion_conv, (features, hidden))))

    def residual(
        self, x: torch.Tensor, state: Optional[State], cell: Optional[nn.Module]
    ) -> Tuple[torch.Tensor, Optional[State]]:
        raise NotImplementedError

    def forward(
        self, x: torch.Tensor, state: Optional[State] = None, cell: Optional[nn.Module] = None
    ) -> Tuple[torch.Tensor, Optional[State]]:
        if self.regulated and cell is None:
            raise ValueError(f'{type(self).__name__} was built with a regulator: pass its cell')

        def inner_forward(x: torch.Tensor, state: Optional[State]) -> Tuple[torch.Tensor, Optional[State]]:
            y, state = self.residual(x, state, cell if self.regulated else None)
            if self.attention is not None:
                y = self.attention(y)
            identity = x if self.downsample is None else self.downsample(x)
            # In place, as mmdet's blocks do: nothing reads y (a norm's or SE's output) for the backward pass.
            return y.add_(identity), state

        if self.with_cp and x.requires_grad:
            out, state = cp.checkpoint(inner_forward, x, state, use_reentrant=False)
        else:
            out, state = inner_forward(x, state)
        return self.relu(out), state


class RegBasicBlock(_RegulatedBlockMixin, BasicBlock):
    r"""The RegNet module (paper Eq. 2, Fig. 3a), an mmdet BasicBlock with a regulator step.

    .. math::
        X_2 &= \mathrm{ReLU}(\mathrm{BN}(W_{12} * X_1)),\quad H^t = \mathrm{ConvRNN}(X_2, H^{t-1}) \\
        X_3 &= \mathrm{ReLU}(\mathrm{BN}(W_{23} * [X_2, \mathrm{ReLU}(\mathrm{BN}(H^t))])),\quad
        X_4 = \mathrm{BN}(W_{34} * X_3),\quad \mathrm{out} = \mathrm{ReLU}(X_1 + X_4)

    ``W_12`` and ``W_34`` are the block's 3x3 convs (``conv1``, ``conv2``), ``W_23`` the 1x1
    ``fusion_conv`` (2N -> N). The regulator steps at ``X2``'s resolution (after the stride), so
    ``regulator_resolution`` changes nothing here.
    """

    last_norm_name = 'norm2'

    def __init__(
        self,
        inplanes: int,
        planes: int,
        *,
        regulated: bool = True,
        with_se: bool = False,
        se_reduction: int = 16,
        regulator_resolution: str = 'output',
        **kwargs,
    ) -> None:
        super().__init__(inplanes, planes, **kwargs)
        self._add_regnet_parts(
            planes,
            regulated=regulated,
            with_se=with_se,
            se_reduction=se_reduction,
            cell_stride=self.stride,
            conv_cfg=kwargs.get('conv_cfg'),
            norm_cfg=kwargs.get('norm_cfg', dict(type='BN')),
        )

    @property
    def first_map_stride(self) -> int:
        return self.stride

    def residual(
        self, x: torch.Tensor, state: Optional[State], cell: Optional[nn.Module]
    ) -> Tuple[torch.Tensor, Optional[State]]:
        x2 = self.relu(self.norm1(self.conv1(x)))
        if cell is not None:
            hidden, state = self.regulate(x2, state, cell)
            x2 = self.fuse(x2, hidden)
        return self.norm2(self.conv2(x2)), state


class RegBottleneck(_RegulatedBlockMixin, Bottleneck):
    r"""The bottleneck RegNet module (paper Eq. 3, Fig. 3b), an mmdet Bottleneck with a regulator step.

    .. math::
        X_2 &= \mathrm{ReLU}(\mathrm{BN}(W_{12} * X_1)),\quad H^t = \mathrm{ConvRNN}(X_2, H^{t-1}),\quad
        X_3 = \mathrm{ReLU}(\mathrm{BN}(W_{23} * X_2)) \\
        X_4 &= \mathrm{ReLU}(\mathrm{BN}(W_{34} * [X_3, \mathrm{ReLU}(\mathrm{BN}(H^t))])),\quad
        X_5 = \mathrm{BN}(W_{45} * X_4),\quad \mathrm{out} = \mathrm{ReLU}(X_1 + X_5)

    ``W_12``/``W_45`` are the 1x1 convs (``conv1``, ``conv3``), ``W_23`` the 3x3 ``conv2``,
    ``W_34`` the 1x1 ``fusion_conv`` (2N -> N). In a strided pytorch-style block ``X2`` is still at
    the input resolution: with ``regulator_resolution='output'`` the regulator reads ``X2``
    average-pooled (ceil mode) to the output resolution; with ``'input'`` it steps at ``X2``'s
    resolution and its new state is pooled (ceil mode) before the concat.
    """

    last_norm_name = 'norm3'

    def __init__(
        self,
        inplanes: int,
        planes: int,
        *,
        regulated: bool = True,
        with_se: bool = False,
        se_reduction: int = 16,
        regulator_resolution: str = 'output',
        **kwargs,
    ) -> None:
        super().__init__(inplanes, planes, **kwargs)
        check_choice('regulator_resolution', regulator_resolution, REGULATOR_RESOLUTIONS)
        at_input = regulator_resolution == 'input'
        self._add_regnet_parts(
            planes,
            regulated=regulated,
            with_se=with_se,
            se_reduction=se_reduction,
            cell_stride=self.conv1_stride if at_input else self.stride,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
        )

    @property
    def first_map_stride(self) -> int:
        return self.conv1_stride

    def residual(
        self, x: torch.Tensor, state: Optional[State], cell: Optional[nn.Module]
    ) -> Tuple[torch.Tensor, Optional[State]]:
        x2 = self.relu(self.norm1(self.conv1(x)))
        if self.with_plugins:
            x2 = self.forward_plugin(x2, self.after_conv1_plugin_names)
        if cell is not None:
            hidden, state = self.regulate(x2, state, cell)
        x3 = self.relu(self.norm2(self.conv2(x2)))
        if self.with_plugins:
            x3 = self.forward_plugin(x3, self.after_conv2_plugin_names)
        if cell is not None:
            x3 = self.fuse(x3, hidden)
        out = self.norm3(self.conv3(x3))
        if self.with_plugins:
            out = self.forward_plugin(out, self.after_conv3_plugin_names)
        return out, state


class UnregulatedStage(Sequential):
    """A stage without a regulator: its blocks in sequence, as mmdet's ``ResLayer`` holds them, so that its
    parameter names are ResNet's (``layer1.0.conv1.weight``, ...) and a ResNet checkpoint loads into
    ``RNNRegNet(regulator_stages=())`` as it is. The recurrence does not cross it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self:
            x, _ = block(x)
        return x


class RegulatedStage(StatefulLayer):
    """One stage: its blocks, its regulator cell(s) and the transition of the incoming state.

    Args:
        blocks: The stage's blocks, in order.
        cells: One cell shared by all blocks, or one per block.
        transitions: One module per state tensor mapping the previous stage's state to this stage's
            channels and resolution; empty when the stage starts from a zero state.
        continue_state: Use the incoming state (else start from zeros: first regulated stage,
            after an unregulated stage, or ``state_transition='reset'``).
    """

    def __init__(
        self,
        blocks: Sequence[nn.Module],
        cells: Sequence[nn.Module],
        transitions: Sequence[nn.Module],
        continue_state: bool,
    ) -> None:
        super().__init__()
        if len(cells) not in (1, len(blocks)):
            raise ValueError(f'cells must hold 1 or {len(blocks)} cells, got {len(cells)}')
        self.blocks = ModuleList(blocks)  # mmengine's, so init_weights reaches the blocks
        self.cells = nn.ModuleList(cells)
        self.transitions = nn.ModuleList(transitions)
        self.continue_state = continue_state

    def forward(self, x: torch.Tensor, state: Optional[State]) -> Tuple[torch.Tensor, Optional[State]]:
        if not self.continue_state or state is None:
            state = None  # the first cell starts from zeros shaped like its input
        elif self.transitions:
            state = tuple(transition(s) for transition, s in zip(self.transitions, state))
        for index, block in enumerate(self.blocks):
            x, state = block(x, state, self.cells[index if len(self.cells) > 1 else 0])
        return x, state


@register_model
class RNNRegNet(ResNetBase):
    r"""RegNet, the RNN-regulated ResNet (Xu et al.), and SE-RegNet, as an mmdet backbone.

    A convolutional RNN per stage (the regulator) takes one step per block on the block's first
    feature map and feeds its hidden state back into the block (paper Eqs. 1-3)::

        H^t = ConvRNN(X_2^t, H^{t-1})
        X_fused = ReLU(BN(W_1x1 * concat(X, ReLU(BN(H^t)))))   # X = X_2 (basic) or X_3 (bottleneck)

    ConvRNN is a vanilla ConvRNN (``'rnn'``), ConvGRU (``'gru'``) or ConvLSTM (``'lstm'``) whose
    convolutions are the paper's light two-step grouped convolutions (see
    :mod:`mmdet_rla.models.layers.conv_rnn`).

    Decisions on what the paper leaves open (defaults from ``shared/notes/design.md``; each has an
    option for the other reading):

    - One cell per stage shared by its blocks, a true recurrence along depth; one BN per block on
      the hidden state it hands to the block. ``share_cells=False``: one cell per block.
    - The recurrent state is the raw ``(h, c)``; ``ReLU(BN(.))`` only shapes what the block reads.
    - ``state_transition`` between regulated stages (channels double, resolution halves):
      ``'conv3x3'`` (a learned 3x3 stride-2 conv per state tensor, no bias), ``'conv1x1'`` or
      ``'reset'`` (each stage's regulator starts from zeros). ``None`` picks per stem what
      reproduces the paper's counts: ``'conv3x3'`` on ImageNet (31.3M parameters for RegNet-50,
      Table VI) and ``'reset'`` on CIFAR (Table I: +44K parameters for RegNet-20 with ConvGRUs,
      which leaves no room for learned transitions; the paper also describes its CIFAR net as
      "3 ConvRNNs, each impacting n modules").
    - ``regulator_resolution``: in a strided pytorch-style bottleneck ``X2`` is at the input
      resolution. ``'output'`` (default): the regulator reads ``X2`` average-pooled (2x2, ceil
      mode), so every step of a stage runs at the stage's output resolution and the stride-2
      transition fits (this reproduces the paper's +0.98 GFLOPs). ``'input'``: it steps on ``X2``
      as is, the transition keeps the resolution (stride 1) and the new state is pooled (ceil
      mode) before the concat; costlier. Basic and caffe-style blocks have ``X2`` at the output
      resolution already, where both agree.
    - ``regulator_stages``: stages without a regulator are plain ResNet (or SE-ResNet) stages with
      ResNet's parameter names (``layer1.0.conv1.weight``; regulated stages keep their blocks in
      ``layer1.blocks``), and a state does not cross them: the next regulated stage starts from zeros.
      ``regulator_stages=()`` is mmdet's ResNet, and a ResNet checkpoint loads into it strictly.
    - Starting from an ImageNet ResNet (``init_cfg=dict(type='ResNetWarmStart', checkpoint=...)``): the
      trunk comes from the file, the regulator as ``init_weights`` makes it, and the fusion convs start as
      identities on the features and zeros on ``H`` (:meth:`preserve_resnet_function`), so the network
      computes the ResNet's function (eval-mode norms).
    - For detection only the stage outputs go to the neck (the state is internal), and every
      parameter takes part in the forward pass.

    Args:
        depth: 18, 34, 50, 101 or 152 (``stem_type='imagenet'``); 20, 32, 44, 56, 110 or 164
            (``stem_type='cifar'``: 3x3 stem, no max-pool, stages of 16/32/64).
        regulator: ``'rnn'``, ``'gru'`` or ``'lstm'``.
        regulator_conv: ``'light'`` (the paper's grouped convolutions) or ``'conv3x3'`` (plain).
        regulator_stages: Indices of the stages with a regulator (``None``: all; may be empty).
        share_cells: One cell per stage (``True``) or one per block.
        state_transition: ``None`` (per stem, see above), ``'conv3x3'``, ``'conv1x1'`` or ``'reset'``.
        regulator_resolution: ``'output'`` or ``'input'`` (see above).
        with_se: SE-RegNet: squeeze-and-excitation on the residual branch, before the sum.
        se_reduction: SE reduction ratio (``None``: 8 on CIFAR as in the paper, 16 on ImageNet).
        fuse_light_conv: Run each light convolution's 1x1 and 3x3 steps composed, as depthwise 3x3
            convolutions: the same function of the same parameters (the state_dict does not
            change) at 18k instead of 2k + 9k^2 multiply-adds per pixel and channel for k gates.
            ``None`` (default): composed where that is cheaper (ConvGRU, ConvLSTM), literal for
            ConvRNN. ``False`` runs the paper's two steps literally; the paper's FLOPs (Table VI)
            count those. See :class:`~mmdet_rla.models.layers.conv_rnn.LightRecurrentConv`.
        **kwargs: Every :class:`ResNetBase` / mmdet ``ResNet`` argument (``stem_type``,
            ``out_indices``, ``frozen_stages`` (stage ``i`` freezes its regulator parts too),
            ``norm_cfg``, ``norm_eval``, ``with_cp``, ``style``, ``init_cfg``, ...).

    Example:
        >>> import torch
        >>> from mmdet_rla.models.backbones import RNNRegNet
        >>> model = RNNRegNet(depth=50, regulator='lstm').eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 97, 131))]
        [(1, 256, 25, 33), (1, 512, 13, 17), (1, 1024, 7, 9), (1, 2048, 4, 5)]
    """

    arch_settings, cifar_arch_settings = family_arch_settings(RegBasicBlock, RegBottleneck)

    def __init__(
        self,
        depth: int,
        regulator: str = 'lstm',
        regulator_conv: str = 'light',
        regulator_stages: Optional[Sequence[int]] = None,
        share_cells: bool = True,
        state_transition: Optional[str] = None,
        regulator_resolution: str = 'output',
        with_se: bool = False,
        se_reduction: Optional[int] = None,
        fuse_light_conv: Optional[bool] = None,
        **kwargs,
    ) -> None:
        check_choice('regulator', regulator, REGULATORS)
        check_choice('regulator_conv', regulator_conv, RECURRENT_CONV_TYPES)
        check_choice('state_transition', state_transition, STATE_TRANSITIONS)
        check_choice('regulator_resolution', regulator_resolution, REGULATOR_RESOLUTIONS)
        for name, flag in (('share_cells', share_cells), ('with_se', with_se)):
            check_bool(name, flag)
        if fuse_light_conv is not None:
            check_bool('fuse_light_conv', fuse_light_conv)
        if se_reduction is not None:
            check_positive_int('se_reduction', se_reduction)
        if regulator_stages is not None:
            regulator_stages = (regulator_stages,) if isinstance(regulator_stages, int) else tuple(regulator_stages)
        stem_type = kwargs.get('stem_type', 'imagenet')
        self.regulator = regulator
        self.regulator_conv = regulator_conv
        self.regulator_stages = regulator_stages
        self.share_cells = share_cells
        self.state_transition = _DEFAULT_TRANSITION.get(stem_type) if state_transition is None else state_transition
        self.regulator_resolution = regulator_resolution
        self.with_se = with_se
        self.fuse_light_conv = fuse_light_conv
        self.se_reduction = _DEFAULT_SE_REDUCTION.get(stem_type) if se_reduction is None else se_reduction
        super().__init__(depth, **kwargs)
        if regulator_stages is None:
            self.regulator_stages = tuple(range(self.num_stages))
        elif regulator_stages:  # empty: no regulator at all (plain ResNet / SE-ResNet)
            check_indices('regulator_stages', regulator_stages, self.num_stages)

    def _is_regulated(self, stage_index: int) -> bool:
        return self.regulator_stages is None or stage_index in self.regulator_stages

    def make_res_layer(self, **kwargs) -> nn.Module:
        stage_index = len(self.res_layers)  # mmdet's ResNet appends each stage after building it
        regulated = self._is_regulated(stage_index)
        blocks = list(
            super().make_res_layer(
                regulated=regulated,
                with_se=self.with_se,
                se_reduction=self.se_reduction,
                regulator_resolution=self.regulator_resolution,
                **kwargs,
            )
        )
        if not regulated:
            return UnregulatedStage(*blocks)
        planes = kwargs['planes']
        transitions = []
        continue_state = stage_index > 0 and self._is_regulated(stage_index - 1) and self.state_transition != 'reset'
        num_cells = 1 if self.share_cells else len(blocks)
        cells = [
            build_conv_rnn_cell(self.regulator, planes, planes, self.regulator_conv, fuse_steps=self.fuse_light_conv)
            for _ in range(num_cells)
        ]
        if continue_state:
            # From the previous stage's last step to this stage's first step.
            stride = blocks[0].cell_stride
            kernel = 3 if self.state_transition == 'conv3x3' else 1
            previous_planes = self.base_channels * 2 ** (stage_index - 1)
            transitions = [
                build_conv_layer(
                    kwargs.get('conv_cfg'),
                    previous_planes,
                    planes,
                    kernel,
                    stride=stride,
                    padding=kernel // 2,
                    bias=False,
                )
                for _ in range(cells[0].num_states)
            ]
        return RegulatedStage(blocks, cells, transitions, continue_state)

    def preserve_resnet_function(self) -> List[str]:
        """After a ``ResNetWarmStart``: every fusion conv reads its features through an identity and ``H``
        through zeros, and its norm is an identity in eval mode, so that
        ``ReLU(BN(W * concat(X, ReLU(BN(H))))) = ReLU(X) = X`` (``X`` leaves a ReLU) and each block computes
        the ResNet's branch. ``H``'s columns get gradients at the first step (``H`` is not zero); the
        regulator, its norms and the transitions from the second."""
        fused = 0
        for name in self.res_layers:
            for block in self.blocks_of(name):
                if getattr(block, 'regulated', False):
                    set_identity_fusion(block.fusion_conv, block.fusion_norm)
                    fused += 1
        notes = (
            [
                f'{fused} fusion convs read X through an identity and H through zeros, their norms identities in '
                "eval mode, so that each block computes the ResNet's branch"
            ]
            if fused
            else []
        )
        return notes + super().preserve_resnet_function()


def set_identity_fusion(conv: nn.Conv2d, norm: nn.Module) -> None:
    """``norm(conv(concat(x, h))) = x`` in eval mode: ``conv`` an identity on the first ``out_channels`` input
    channels and zero on the rest, ``norm`` a batch norm whose running statistics and affine map make it an
    identity exactly (``running_var + eps == 1`` in its dtype, so its scale is 1, not merely close to it)."""
    if not isinstance(norm, nn.modules.batchnorm._BatchNorm) or conv.kernel_size != (1, 1) or conv.groups != 1:
        raise ValueError(
            f'the fusion of a warm start needs a 1x1 conv and a batch norm, got {type(conv).__name__} '
            f'and {type(norm).__name__}'
        )
    channels = conv.out_channels
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, :channels, 0, 0] = torch.eye(channels, dtype=conv.weight.dtype)
        if conv.bias is not None:
            conv.bias.zero_()
        norm.weight.fill_(1)
        norm.bias.zero_()
        norm.running_mean.zero_()
        norm.running_var.fill_(identity_variance(norm.eps, norm.running_var.dtype))


def identity_variance(eps: float, dtype: torch.dtype) -> float:
    """The variance ``v`` nearest to ``1 - eps`` with ``v + eps == 1`` in ``dtype``'s arithmetic (a norm's
    inverse standard deviation is then exactly 1)."""
    one = torch.ones((), dtype=dtype)
    var = one - eps
    for _ in range(8):
        total = var + torch.tensor(eps, dtype=dtype)
        if total == one:
            return var.item()
        var = torch.nextafter(var, -one if total > one else one * 2)
    raise ValueError(f'no {dtype} variance makes the norm an identity with eps={eps}')
