"""RLA-MobileNetV2: MobileNetV2 with Recurrent Layer Aggregation (Zhao, Fang & Li, NeurIPS 2021, Table 3).

For block ``t`` (an inverted residual block) of layer ``s`` (a row of MobileNetV2's table)::

    m^t = ReLU6(BN(Conv1x1(x^{t-1})))                        # expansion (absent when t = 1)
    y^t = BN(Conv1x1(ReLU6(BN(DWConv3x3(concat(m^t, h^{t-1}))))))   # h joins after the expansion
    x^t = x^{t-1} + y^t  (when stride 1 and widths agree, else y^t)
    h^t = R(tanh(BN^t(h^{t-1} + Conv1x1_s(y^t))))            # R: the recurrent 3x3 conv

``h`` has ``rla_channels`` (k) channels, starts at zero after the stem and is average-pooled
after every strided block. The authors' released models (``models/mobilenetv2_dsrla.py`` of
github joyfang1106/RLANet) use a depthwise 3x3 convolution for ``R`` and feed
``concat(x, ReLU6(BN(h)))`` to the last 1x1 convolution (320 + k -> 1280).
"""

from typing import List, Optional, Sequence, Tuple

import torch
import torch.utils.checkpoint as cp
from mmcv.cnn import ConvModule, build_activation_layer, build_conv_layer, build_norm_layer
from mmdet.models.backbones import MobileNetV2
from mmdet.models.layers import InvertedResidual
from mmengine.model import BaseModule, ModuleList
from torch import nn

from ...registry import register_model
from ...utils import check_bool, check_choice, check_indices, check_int_range, check_positive_int
from ..layers.activation import tanh
from ..layers.channel_attention import CHANNEL_ATTENTIONS, build_channel_attention
from ..layers.pooling import CeilAvgPool2d

RECURRENT_CONVS = ('depthwise', 'full')
RECURRENT_CONV_SHARINGS = ('network', 'stage')


class RLAInvertedResidual(InvertedResidual):
    """mmdet's inverted residual block whose depthwise conv also reads the RLA state ``h``.

    ``h`` is concatenated after the 1x1 expansion, so the depthwise 3x3 conv runs over
    ``mid_channels + k`` channels and the linear 1x1 conv maps ``mid_channels + k`` to the output.
    An optional channel attention (ECA/SE) acts on the linear conv's output ``y``, before the sum.

    ``forward(x, h)`` returns the block output and ``y``, the residual branch that updates ``h``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mid_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        with_expand_conv: bool = True,
        conv_cfg: Optional[dict] = None,
        norm_cfg: dict = dict(type='BN'),
        act_cfg: dict = dict(type='ReLU6'),
        drop_path_rate: float = 0.0,
        with_cp: bool = False,
        init_cfg: Optional[dict] = None,
        *,
        rla_channels: int = 32,
        channel_attention: Optional[str] = None,
        se_reduction: int = 16,
        eca_kernel_size: int = 3,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            mid_channels,
            kernel_size=kernel_size,
            stride=stride,
            with_expand_conv=with_expand_conv,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            drop_path_rate=drop_path_rate,
            with_cp=with_cp,
            init_cfg=init_cfg,
        )
        # Rebuilt over mid + k channels: h joins the expanded features.
        hidden = mid_channels + rla_channels
        self.depthwise_conv = ConvModule(
            hidden,
            hidden,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            groups=hidden,
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
        )
        self.linear_conv = ConvModule(hidden, out_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None)
        self.attention = build_channel_attention(
            channel_attention, out_channels, se_reduction=se_reduction, eca_kernel_size=eca_kernel_size
        )

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Return ``(x + y or y, y)``."""

        def inner_forward(x: torch.Tensor, h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
            expanded = self.expand_conv(x) if self.with_expand_conv else x
            y = self.linear_conv(self.depthwise_conv(torch.cat([expanded, h], dim=1)))
            if self.attention is not None:
                y = self.attention(y)
            return (x + self.drop_path(y) if self.with_res_shortcut else y), y

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(inner_forward, x, h, use_reentrant=False)
        return inner_forward(x, h)


class RLAInvertedResidualLayer(BaseModule):
    """One layer of RLA-MobileNetV2 (a row of the MobileNetV2 table): its blocks and RLA parts.

    ``conv_out`` (1x1, C_out -> k) is shared by the layer's blocks; ``norms`` holds one norm per
    state update. The recurrent conv ``R`` is handed in by the backbone, which may share it with
    other layers.

    Args:
        blocks: The layer's :class:`RLAInvertedResidual` blocks, in order.
        out_channels: Output channels of the blocks.
        rla_channels: Channels ``k`` of the state.
        pool_state: Average-pool ``h`` (2x2, ceil mode) after the first block, whose stride is 2.
        num_updates: How many blocks update ``h``: all of them, or one fewer when nothing reads
            the update after the last block (no ``conv_out`` at all when zero).
    """

    def __init__(
        self,
        blocks: Sequence[RLAInvertedResidual],
        out_channels: int,
        rla_channels: int,
        *,
        conv_cfg: Optional[dict],
        norm_cfg: dict,
        pool_state: bool,
        num_updates: int,
    ) -> None:
        super().__init__()
        self.blocks = ModuleList(blocks)  # mmengine's, so init_weights reaches the blocks
        self.conv_out = build_conv_layer(conv_cfg, out_channels, rla_channels, 1, bias=False) if num_updates else None
        self.norms = nn.ModuleList(build_norm_layer(norm_cfg, rla_channels)[1] for _ in range(num_updates))
        # ceil mode keeps h the size of x, whose strided depthwise conv rounds up, for odd sizes too.
        self.state_pool = CeilAvgPool2d(2) if pool_state else None

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, recurrent_conv: nn.Module, update_last: bool = True
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Run the blocks; ``update_last=False`` skips the update after the last block (unread)."""
        num_updates = len(self.norms) if update_last else min(len(self.norms), len(self.blocks) - 1)
        for t, block in enumerate(self.blocks):
            x, y = block(x, h)
            if t == 0 and self.state_pool is not None:
                h = self.state_pool(h)
            if t < num_updates:
                h = recurrent_conv(tanh(self.norms[t](h + self.conv_out(y))))
        return x, h


@register_model
class RLAMobileNetV2(MobileNetV2):
    r"""MobileNetV2 with Recurrent Layer Aggregation (RLA-Net, Zhao et al., NeurIPS 2021).

    Every inverted residual block reads the aggregated state ``h`` next to its expanded input, and
    updates it with a pre-activated ConvRNN step (paper Eq. 11, Fig. 3):

    .. math::
        y^t = F^t(\mathrm{concat}(E^t(x^{t-1}), h^{t-1})),\quad x^t = x^{t-1} + y^t,\quad
        h^t = R(\tanh(\mathrm{BN}^t(h^{t-1} + \mathrm{Conv1}_s(y^t))))

    where ``E`` is the block's 1x1 expansion, ``F`` its depthwise 3x3 and linear 1x1 convs over
    ``mid + k`` channels, ``Conv1_s`` a 1x1 conv shared by the blocks of layer ``s``, and ``R``
    the recurrent 3x3 conv. The last conv (``conv2``, output index 7) reads
    ``concat(x, act(BN(h)))``: 320 + k -> 1280 channels.

    Everything else is mmdet's :class:`~mmdet.models.backbones.MobileNetV2`: ``conv1``,
    ``layer1`` ... ``layer7`` (one per row of the MobileNetV2 table), ``conv2``; ``out_indices``
    pick among these 8, ``frozen_stages`` freezes ``conv1`` (0) and ``layer1`` ... ``layer{i}``.

    Matches the authors' ``models/mobilenetv2_dsrla.py`` (``recurrent_conv='depthwise'``, their
    released ``dsrla_mobilenetv2_k32`` and ``_eca``) and ``models/mobilenetv2_rla.py``
    (``recurrent_conv='full'``). Decisions on what their code and the paper leave open:

    - **One recurrent conv for the whole network** (``recurrent_conv_sharing='network'``). The
      paper asks for one per stage of equal resolution (5 in MobileNetV2), but the authors'
      ``[recurrent_dsconv(...)] * 5`` puts one module five times into a ``ModuleList``: their
      released weights were trained with a single ``R``, and their checkpoints hold five
      identical copies of it. ``recurrent_convs`` reproduces exactly that (five entries, one
      module; the optimizer sees it once). ``'stage'`` gives the paper's five independent ones,
      for layers 1 | 2 | 3 | 4-5 | 6-7.
    - ``R`` of the released models is a depthwise 3x3 conv (``groups=k``: 9k weights), which
      the paper calls "depthwise separable"; there is no pointwise part.
    - ``h`` is pooled in **ceil mode** (the authors' floor mode crashes on odd sizes; with even
      sizes both agree) and created on the input's device and dtype (theirs: always on the GPU).
    - ``y`` is the residual branch itself: unlike their ResNet, their MobileNetV2 adds the
      identity out of place, so no alias changes what ``Conv1_s`` reads.
    - ``act_cfg`` (ReLU6 by default) is the activation wherever the authors use ReLU6,
      including the one on ``BN(h)`` before ``conv2``.
    - Layers after ``max(out_indices)`` are not run, and the update after the last block of the
      last layer run is skipped when nothing reads it. As with mmdet's MobileNetV2 (whose
      ``conv2`` then goes unused), out_indices without 7 leave ``conv2`` and that update's
      parts without gradient: mmdet's YOLOv3 config sets ``find_unused_parameters=True``.
    - A frozen layer freezes its RLA parts, the recurrent conv it uses included: with the
      default sharing, ``frozen_stages >= 1`` freezes ``R`` for all layers. ``frozen_stages >= 0``
      also puts ``conv1``'s norm in eval mode (mmdet's MobileNetV2 only stops its gradients).

    Args:
        rla_channels: Channels ``k`` of the RLA state (released models: 32; factories for 6, 12, 24).
        recurrent_conv: ``'depthwise'`` (``dsrla_*``, the released models) or ``'full'``
            (a dense 3x3 conv, ``rla_mobilenetv2*``).
        recurrent_conv_sharing: ``'network'`` (one ``R`` for all layers, as the authors' code)
            or ``'stage'`` (one per resolution stage, as the paper describes).
        channel_attention: ``None``, ``'eca'`` or ``'se'`` on each block's ``y``, before the sum.
        se_reduction: SE reduction ratio.
        eca_kernel_sizes: ECA kernel size per layer (the authors': 1 for the 16..64-channel
            layers, 3 for the 96..320-channel ones).
        with_rla_output: ``conv2`` reads ``concat(x, act(BN(h)))`` (the authors' network, needed
            for their weights). ``False`` discards the RLA output (paper Sec. 3, for detection):
            ``conv2`` reads ``x`` only, as mmdet's, and the unread last update is not built.
        widen_factor, out_indices, frozen_stages, conv_cfg, norm_cfg, act_cfg, norm_eval,
            with_cp, pretrained, init_cfg: as in mmdet's MobileNetV2 (``norm_cfg`` and
            ``act_cfg`` also apply to the RLA parts).

    Example:
        >>> import torch
        >>> from mmdet_rla.models import RLAMobileNetV2
        >>> model = RLAMobileNetV2(out_indices=(1, 2, 4, 7)).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 97, 131))]
        [(1, 24, 25, 33), (1, 32, 13, 17), (1, 96, 7, 9), (1, 1280, 4, 5)]
    """

    def __init__(
        self,
        rla_channels: int = 32,
        recurrent_conv: str = 'depthwise',
        recurrent_conv_sharing: str = 'network',
        channel_attention: Optional[str] = None,
        se_reduction: int = 16,
        eca_kernel_sizes: Sequence[int] = (1, 1, 1, 1, 3, 3, 3),
        with_rla_output: bool = True,
        widen_factor: float = 1.0,
        out_indices: Sequence[int] = (1, 2, 4, 7),
        frozen_stages: int = -1,
        **kwargs,
    ) -> None:
        num_layers = len(self.arch_settings)
        check_positive_int('rla_channels', rla_channels)
        check_choice('recurrent_conv', recurrent_conv, RECURRENT_CONVS)
        check_choice('recurrent_conv_sharing', recurrent_conv_sharing, RECURRENT_CONV_SHARINGS)
        check_choice('channel_attention', channel_attention, CHANNEL_ATTENTIONS)
        check_bool('with_rla_output', with_rla_output)
        if isinstance(widen_factor, bool) or not isinstance(widen_factor, (int, float)) or widen_factor <= 0:
            raise ValueError(f'widen_factor must be a positive number, got {widen_factor!r}')
        out_indices = (out_indices,) if isinstance(out_indices, int) else tuple(out_indices)
        check_indices('out_indices', out_indices, num_layers + 1)
        check_int_range('frozen_stages', frozen_stages, -1, num_layers)
        eca_kernel_sizes = tuple(eca_kernel_sizes)
        if channel_attention == 'eca' and len(eca_kernel_sizes) != num_layers:
            raise ValueError(
                f'eca_kernel_sizes must have one odd size per layer ({num_layers}), got {eca_kernel_sizes!r}'
            )
        self.rla_channels = rla_channels
        self.recurrent_conv_kind = recurrent_conv  # ('depthwise' / 'full'; the modules are recurrent_convs)
        self.recurrent_conv_sharing = recurrent_conv_sharing
        self.channel_attention = channel_attention
        self.se_reduction = se_reduction
        self.eca_kernel_sizes = eca_kernel_sizes
        self.with_rla_output = with_rla_output
        super().__init__(widen_factor=widen_factor, out_indices=out_indices, frozen_stages=frozen_stages, **kwargs)

        # The last conv reads concat(x, act(BN(h))) (the authors' classifier input).
        last_in = self.in_channels + (rla_channels if with_rla_output else 0)
        self.conv2 = ConvModule(
            last_in, self.out_channel, 1, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg
        )
        if with_rla_output:
            self.output_norm = build_norm_layer(self.norm_cfg, rla_channels)[1]
            self.output_act = build_activation_layer(self.act_cfg)

        # Which recurrent conv each layer uses: a new resolution stage starts at every stride 2.
        stage_of_layer: List[int] = []
        for i, (_, _, _, stride) in enumerate(self.arch_settings):
            stage_of_layer.append(0 if i == 0 else stage_of_layer[-1] + (stride == 2))
        self.stage_of_layer = tuple(stage_of_layer)
        num_stages = stage_of_layer[-1] + 1
        if recurrent_conv_sharing == 'network':
            # One module listed once per stage: the authors' `[conv] * 5`, five equal state_dict entries.
            self.recurrent_convs = nn.ModuleList([self._build_recurrent_conv()] * num_stages)
        else:
            self.recurrent_convs = nn.ModuleList(self._build_recurrent_conv() for _ in range(num_stages))

    def _build_recurrent_conv(self) -> nn.Module:
        k = self.rla_channels
        return build_conv_layer(
            self.conv_cfg, k, k, 3, padding=1, bias=False, groups=k if self.recurrent_conv_kind == 'depthwise' else 1
        )

    def make_layer(
        self, out_channels: int, num_blocks: int, stride: int, expand_ratio: int
    ) -> RLAInvertedResidualLayer:
        """The blocks of one table row (as mmdet's ``make_layer``) and the layer's RLA parts."""
        layer_index = len(self.layers)  # mmdet's __init__ appends each layer's name after building it
        eca_kernel_size = self.eca_kernel_sizes[layer_index] if self.channel_attention == 'eca' else 3
        blocks = []
        for i in range(num_blocks):
            blocks.append(
                RLAInvertedResidual(
                    self.in_channels,
                    out_channels,
                    mid_channels=int(round(self.in_channels * expand_ratio)),
                    stride=stride if i == 0 else 1,
                    with_expand_conv=expand_ratio != 1,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                    act_cfg=self.act_cfg,
                    with_cp=self.with_cp,
                    rla_channels=self.rla_channels,
                    channel_attention=self.channel_attention,
                    se_reduction=self.se_reduction,
                    eca_kernel_size=eca_kernel_size,
                )
            )
            self.in_channels = out_channels
        is_last_layer = layer_index == len(self.arch_settings) - 1
        return RLAInvertedResidualLayer(
            blocks,
            out_channels,
            self.rla_channels,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            pool_state=stride != 1,
            num_updates=num_blocks - 1 if is_last_layer and not self.with_rla_output else num_blocks,
        )

    def _freeze_stages(self) -> None:
        super()._freeze_stages()
        if self.frozen_stages >= 0:
            self.conv1.eval()
        for stage in {self.stage_of_layer[i] for i in range(self.frozen_stages)}:
            for param in self.recurrent_convs[stage].parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'RLAMobileNetV2':
        """mmdet's ``train`` (freezing, ``norm_eval``), returning ``self`` so ``model.eval()`` chains."""
        super().train(mode)
        return self

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.conv1(x)
        h = x.new_zeros((x.shape[0], self.rla_channels, x.shape[2], x.shape[3]))  # h^0 = 0
        last = max(self.out_indices)
        outs = []
        for i, layer_name in enumerate(self.layers[: last + 1]):
            if layer_name == 'conv2':
                if self.with_rla_output:
                    x = torch.cat([x, self.output_act(self.output_norm(h))], dim=1)
                x = self.conv2(x)
            else:
                recurrent_conv = self.recurrent_convs[self.stage_of_layer[i]]
                # The update after a layer's last block is read by the next layer run, or by conv2's RLA output.
                update_last = i < last and (self.layers[i + 1] != 'conv2' or self.with_rla_output)
                x, h = getattr(self, layer_name)(x, h, recurrent_conv, update_last=update_last)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


__all__ = ['RLAMobileNetV2', 'RLAInvertedResidual', 'RLAInvertedResidualLayer']
