"""RLA-ResNet: ResNet with Recurrent Layer Aggregation (Zhao, Fang & Li, NeurIPS 2021).

For block ``t`` of stage ``s`` (paper Eq. 11 and Fig. 3)::

    y^t = F^t(concat(x^{t-1}, h^{t-1}))                 # the residual branch also reads h
    x^t = ReLU(y^t + x^{t-1})                           # the usual residual sum
    h^t = Conv3x3_s(tanh(BN^t(h^{t-1} + Conv1x1_s(y^t))))  # pre-activated ConvRNN, shared per stage

``h`` has ``rla_channels`` (k) channels, starts at zero and is average-pooled whenever the main
path halves its resolution. Compared with the authors' mmdet 2.x file this implementation:
creates ``h`` on the input's device and dtype (no hard-coded GPU device), pools ``h`` in ceil mode so any
input size works, skips the update after the last block in detection mode (so every parameter
receives a gradient and DDP needs no ``find_unused_parameters``), supports BasicBlock depths and
CIFAR stems, and keeps mmdet's ResNet knobs.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck
from mmengine.model import ModuleList
from torch import nn

from ...registry import register_model
from ...utils import check_choice, check_positive_int
from ..layers.channel_attention import CHANNEL_ATTENTIONS, build_channel_attention
from ..layers.pooling import CeilAvgPool2d
from .base import ResNetBase, StatefulLayer, bottleneck_residual, family_arch_settings

RLA_INPUTS = ('residual', 'output')


class _RLABlockMixin:
    """The parts shared by both RLA blocks: read ``concat(x, h)``, return ``(x_out, y)``."""

    with_cp: bool
    downsample: Optional[nn.Module]
    relu: nn.Module

    def _add_rla_parts(self, channel_attention: Optional[str], out_channels: int,
                       se_reduction: int, eca_kernel_size: int) -> None:
        self.attention = build_channel_attention(
            channel_attention, out_channels, se_reduction=se_reduction, eca_kernel_size=eca_kernel_size)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return the block output ``ReLU(y + identity)`` and the residual ``y``."""

        def inner_forward(x: torch.Tensor, h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
            y = self.residual(torch.cat([x, h], dim=1))
            if self.attention is not None:
                y = self.attention(y)
            identity = x if self.downsample is None else self.downsample(x)
            return y + identity, y

        if self.with_cp and x.requires_grad:
            out, y = cp.checkpoint(inner_forward, x, h, use_reentrant=False)
        else:
            out, y = inner_forward(x, h)
        return self.relu(out), y


class RLABasicBlock(_RLABlockMixin, BasicBlock):
    """mmdet BasicBlock whose first 3x3 conv reads ``concat(x, h)``: ``C_in + k`` channels."""

    last_norm_name = 'norm2'

    def __init__(self, inplanes: int, planes: int, *, rla_channels: int = 32,
                 channel_attention: Optional[str] = None, se_reduction: int = 16,
                 eca_kernel_size: int = 3, **kwargs) -> None:
        super().__init__(inplanes, planes, **kwargs)
        self.conv1 = build_conv_layer(
            self.conv_cfg if hasattr(self, 'conv_cfg') else kwargs.get('conv_cfg'),
            inplanes + rla_channels, planes, 3, stride=self.stride, padding=self.dilation,
            dilation=self.dilation, bias=False)
        self._add_rla_parts(channel_attention, planes * self.expansion, se_reduction, eca_kernel_size)

    def residual(self, xh: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(xh)))
        return self.norm2(self.conv2(out))


class RLABottleneck(_RLABlockMixin, Bottleneck):
    """mmdet Bottleneck whose first 1x1 conv reads ``concat(x, h)``: ``C_in + k`` channels."""

    last_norm_name = 'norm3'

    def __init__(self, inplanes: int, planes: int, *, rla_channels: int = 32,
                 channel_attention: Optional[str] = None, se_reduction: int = 16,
                 eca_kernel_size: int = 3, **kwargs) -> None:
        super().__init__(inplanes, planes, **kwargs)
        self.conv1 = build_conv_layer(
            self.conv_cfg, inplanes + rla_channels, planes, kernel_size=1, stride=self.conv1_stride,
            bias=False)
        self._add_rla_parts(channel_attention, planes * self.expansion, se_reduction, eca_kernel_size)

    def residual(self, xh: torch.Tensor) -> torch.Tensor:
        return bottleneck_residual(self, xh)


class RLAStage(StatefulLayer):
    """One stage: its blocks plus the RLA parts they share.

    ``conv_out`` (1x1, C_out -> k) and ``recurrent_conv`` (3x3, k -> k) are shared by every block of
    the stage; ``norms`` holds one norm per state update. ``num_updates`` is the number of blocks
    after which ``h`` is updated: all of them, except after the very last block of a detection
    backbone, whose update nothing would read.

    Args:
        blocks: The stage's RLA blocks, in order.
        out_channels: Output channels of the blocks.
        rla_channels: Channels ``k`` of the state.
        pool_state: Average-pool ``h`` (2x2, ceil mode) after the first block, whose stride > 1.
        num_updates: How many blocks update ``h`` (``len(blocks)`` or ``len(blocks) - 1``).
        rla_input: What ``conv_out`` reads: ``'residual'`` (the paper's ``y``) or ``'output'``
            (``ReLU(y + identity)``, what the authors' code computes through an in-place alias).
        with_output_norm: Build ``output_norm`` for the classification output
            ``concat(x, ReLU(BN(h)))``.
    """

    def __init__(self, blocks: Sequence[nn.Module], out_channels: int, rla_channels: int, *,
                 conv_cfg: Optional[dict], norm_cfg: dict, pool_state: bool, num_updates: int,
                 rla_input: str = 'residual', with_output_norm: bool = False) -> None:
        super().__init__()
        self.blocks = ModuleList(blocks)  # mmengine's, so init_weights reaches the blocks
        self.conv_out = build_conv_layer(conv_cfg, out_channels, rla_channels, 1, bias=False)
        self.recurrent_conv = build_conv_layer(
            conv_cfg, rla_channels, rla_channels, 3, padding=1, bias=False)
        self.norms = nn.ModuleList(build_norm_layer(norm_cfg, rla_channels)[1] for _ in range(num_updates))
        # ceil mode keeps h the same size as x, whose strided convs round up, for odd sizes too.
        self.state_pool = CeilAvgPool2d(2) if pool_state else None
        self.rla_input = rla_input
        self.output_norm = build_norm_layer(norm_cfg, rla_channels)[1] if with_output_norm else None

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        for t, block in enumerate(self.blocks):
            x, y = block(x, h)
            if t == 0 and self.state_pool is not None:
                h = self.state_pool(h)
            if t < len(self.norms):
                update = self.conv_out(y if self.rla_input == 'residual' else x)
                h = self.recurrent_conv(torch.tanh(self.norms[t](h + update)))
        return x, h


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
        rla_input: ``'residual'`` or ``'output'`` (see above).
        with_rla_output: Return ``concat(x, ReLU(BN(h)))`` for the last stage, the classification
            output of the paper (2048 + k channels at depth 50); also keeps the last update.
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

    def __init__(self,
                 depth: int,
                 rla_channels: int = 32,
                 channel_attention: Optional[str] = None,
                 se_reduction: int = 16,
                 eca_kernel_sizes: Sequence[int] = (5, 5, 5, 7),
                 rla_input: str = 'residual',
                 with_rla_output: bool = False,
                 **kwargs) -> None:
        check_positive_int('rla_channels', rla_channels)
        check_choice('channel_attention', channel_attention, CHANNEL_ATTENTIONS)
        check_choice('rla_input', rla_input, RLA_INPUTS)
        if isinstance(eca_kernel_sizes, int):
            eca_kernel_sizes = (eca_kernel_sizes, )
        eca_kernel_sizes = tuple(eca_kernel_sizes)
        self.rla_channels = rla_channels
        self.channel_attention = channel_attention
        self.se_reduction = se_reduction
        self.eca_kernel_sizes = eca_kernel_sizes
        self.rla_input = rla_input
        self.with_rla_output = with_rla_output
        super().__init__(depth, **kwargs)
        if channel_attention == 'eca' and len(eca_kernel_sizes) < self.num_stages:
            raise ValueError(f'eca_kernel_sizes must have one odd size per stage ({self.num_stages}), '
                             f'got {eca_kernel_sizes!r}')
        if with_rla_output:
            self.feat_dim += rla_channels

    def make_res_layer(self, **kwargs) -> RLAStage:
        stage_index = len(self.res_layers)  # mmdet's ResNet appends each stage after building it
        is_last_stage = stage_index == self.num_stages - 1
        eca_sizes = self.eca_kernel_sizes
        blocks = super().make_res_layer(
            rla_channels=self.rla_channels,
            channel_attention=self.channel_attention,
            se_reduction=self.se_reduction,
            eca_kernel_size=eca_sizes[min(stage_index, len(eca_sizes) - 1)],
            **kwargs)
        keep_last_update = not is_last_stage or self.with_rla_output
        return RLAStage(
            list(blocks),
            kwargs['planes'] * kwargs['block'].expansion,
            self.rla_channels,
            conv_cfg=kwargs.get('conv_cfg'),
            norm_cfg=kwargs['norm_cfg'],
            pool_state=kwargs['stride'] != 1,
            num_updates=len(blocks) if keep_last_update else len(blocks) - 1,
            rla_input=self.rla_input,
            with_output_norm=is_last_stage and self.with_rla_output)

    def init_state(self, x: torch.Tensor) -> torch.Tensor:
        """``h^0 = 0``, shaped like the stem output, on its device and in its dtype."""
        return x.new_zeros((x.shape[0], self.rla_channels, x.shape[2], x.shape[3]))

    def stage_output(self, stage_index: int, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        stage = getattr(self, self.res_layers[stage_index])
        if stage.output_norm is None:
            return x
        return torch.cat([x, self.relu(stage.output_norm(h))], dim=1)
