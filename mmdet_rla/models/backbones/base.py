"""Plumbing shared by the three backbone families: stem, stage layout, freezing, outputs.

Every family here is a ResNet whose stages may carry a *state along depth*: RLA's aggregated
feature map ``h``, the RNN regulator's hidden state ``(h, c)``, or nothing at all (RoR). The
base class is mmdet's :class:`~mmdet.models.backbones.ResNet`, so its knobs (``norm_cfg``,
``frozen_stages``, ``norm_eval``, ``out_indices``, ``with_cp``, ``deep_stem``, ``avg_down``,
``dcn``, ``plugins``, ``init_cfg``/``pretrained``) behave exactly as users know them. What a family
adds lives inside its stage module ``layer{i}``, so mmdet's stage freezing covers it too.

A stage module either is a plain :class:`~mmdet.models.layers.ResLayer` (``x -> x``) or a
:class:`StatefulLayer` (``(x, state) -> (x, state)``).
"""

from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Type

import torch
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck, ResNet
from mmengine.model import BaseModule
from torch import nn

from ...utils import check_bool, check_choice, check_indices, check_int_range
from ..weight_init import RESNET_BLOCK_PARTS, apply_checkpoint_init, checkpoint_init_kind, init_cfg_list

STEM_TYPES = ('imagenet', 'cifar')
STYLES = ('pytorch', 'caffe')
ArchSettings = Dict[int, Tuple[Type[nn.Module], Tuple[int, ...]]]

# mmdet ResNet's initialisation when no checkpoint is given (its init_cfg when init_cfg is None): what every
# tensor a checkpoint does not hold starts from.
FRESH_INIT_CFG = (dict(type='Kaiming', layer='Conv2d'), dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']))

# Stage layout defaults per stem: ImageNet nets have 4 stages of 64..512 base widths after a
# stride-4 stem; CIFAR nets (He et al. 2016, Sec. 4.2) have 3 stages of 16/32/64 after a 3x3 conv.
_STEM_DEFAULTS = {
    'imagenet': dict(base_channels=64, strides=(1, 2, 2, 2), dilations=(1, 1, 1, 1)),
    'cifar': dict(base_channels=16, strides=(1, 2, 2), dilations=(1, 1, 1)),
}


class StatefulLayer(BaseModule):
    """A stage that threads a state along depth: ``forward(x, state) -> (x, state)``.

    A :class:`~mmengine.model.BaseModule`, so that ``init_weights`` reaches the blocks' own
    ``init_cfg`` (e.g. the zero-init of their last norm).
    """

    def forward(self, x: torch.Tensor, state: Any) -> Tuple[torch.Tensor, Any]:
        raise NotImplementedError


class ResNetBase(ResNet):
    """mmdet ResNet with argument checks, a CIFAR stem and a state threaded through the stages.

    Subclasses set ``arch_settings`` (ImageNet depths) and ``cifar_arch_settings``, override
    :meth:`make_res_layer` to build their stage modules, and :meth:`init_state` when their stages
    carry a state. Zero-initialisation of each block's last norm (``zero_init_residual``) is
    applied to any block class that names that norm in ``last_norm_name``.

    Args:
        depth: Network depth; the allowed values are the keys of the arch settings of ``stem_type``.
        stem_type: ``'imagenet'`` (7x7/2 conv + 3x3/2 max-pool, or the deep stem) or ``'cifar'``
            (one 3x3/1 conv, no pooling; 3 stages of 16/32/64 base channels by default).
        base_channels, num_stages, strides, dilations, out_indices: as in mmdet's ResNet; ``None``
            takes the default of ``stem_type`` (``out_indices=None``: every stage).
        freeze_added_parts: With ``frozen_stages >= 1``, freeze the family's own parts of those stages too
            (``True``, mmdet's rule: a frozen stage is frozen whole), or only their ResNet trunk (``False``: the
            convs, norms and downsample of the blocks), so that parts a ResNet checkpoint did not hold still
            train after a ``ResNetWarmStart``.
        **kwargs: Every other mmdet ResNet argument. ``init_cfg`` may hold ``dict(type='Pretrained', ...)``
            (a checkpoint of this backbone, required to hold all of it) or ``dict(type='ResNetWarmStart', ...)``
            (an ImageNet ResNet/ResNeXt; :mod:`mmdet_rla.models.weight_init`), see :meth:`init_weights`.
    """

    arch_settings: ArchSettings = ResNet.arch_settings
    cifar_arch_settings: ArchSettings = {
        20: (BasicBlock, (3, 3, 3)),
        32: (BasicBlock, (5, 5, 5)),
        44: (BasicBlock, (7, 7, 7)),
        56: (BasicBlock, (9, 9, 9)),
        110: (BasicBlock, (18, 18, 18)),
        164: (Bottleneck, (18, 18, 18)),
    }

    def __init__(
        self,
        depth: int,
        stem_type: str = 'imagenet',
        base_channels: Optional[int] = None,
        stem_channels: Optional[int] = None,
        num_stages: Optional[int] = None,
        strides: Optional[Sequence[int]] = None,
        dilations: Optional[Sequence[int]] = None,
        out_indices: Optional[Sequence[int]] = None,
        style: str = 'pytorch',
        frozen_stages: int = -1,
        freeze_added_parts: bool = True,
        **kwargs,
    ) -> None:
        check_choice('stem_type', stem_type, STEM_TYPES)
        check_bool('freeze_added_parts', freeze_added_parts)
        self.freeze_added_parts = freeze_added_parts
        self.stem_type = stem_type
        # mmdet's ResNet reads the table through ``self.arch_settings``: point it at the stem's.
        self.arch_settings = self.arch_table(stem_type)
        check_choice('depth', depth, sorted(self.arch_settings))
        defaults = _STEM_DEFAULTS[stem_type]
        max_stages = len(self.arch_settings[depth][1])
        num_stages = max_stages if num_stages is None else num_stages
        check_int_range('num_stages', num_stages, 1, max_stages)
        strides = tuple(defaults['strides'][:num_stages] if strides is None else strides)
        dilations = tuple(defaults['dilations'][:num_stages] if dilations is None else dilations)
        for name, values in (('strides', strides), ('dilations', dilations)):
            if len(values) != num_stages:
                raise ValueError(f'{name} must have one entry per stage (num_stages={num_stages}), got {values!r}')
        out_indices = tuple(range(num_stages) if out_indices is None else out_indices)
        check_indices('out_indices', out_indices, num_stages)
        check_int_range('frozen_stages', frozen_stages, -1, num_stages)
        check_choice('style', style, STYLES)
        base_channels = defaults['base_channels'] if base_channels is None else base_channels
        super().__init__(
            depth=depth,
            base_channels=base_channels,
            stem_channels=base_channels if stem_channels is None else stem_channels,
            num_stages=num_stages,
            strides=strides,
            dilations=dilations,
            out_indices=out_indices,
            style=style,
            frozen_stages=frozen_stages,
            **kwargs,
        )

    @classmethod
    def arch_table(cls, stem_type: str) -> ArchSettings:
        """The depth -> (block, blocks per stage) table of ``stem_type``."""
        return cls.cifar_arch_settings if stem_type == 'cifar' else cls.arch_settings

    # ----------------------------------------------------------------- construction hooks
    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        if self.stem_type == 'imagenet':
            super()._make_stem_layer(in_channels, stem_channels)
            return
        if self.deep_stem:
            raise ValueError("deep_stem=True needs stem_type='imagenet'; the CIFAR stem is a single 3x3 conv")
        self.conv1 = build_conv_layer(
            self.conv_cfg, in_channels, stem_channels, kernel_size=3, stride=1, padding=1, bias=False
        )
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()

    def block_init_cfg(self, block: Type[nn.Module]) -> Optional[dict]:
        """Zero-init of the block's last norm, so every residual block starts as an identity."""
        if not self.zero_init_residual or _is_pretrained(self.init_cfg):
            return None
        last_norm = getattr(block, 'last_norm_name', None)
        if last_norm is None:
            return None
        return dict(type='Constant', val=0, override=dict(name=last_norm))

    def make_res_layer(self, **kwargs) -> nn.Module:
        if kwargs.get('init_cfg') is None:
            kwargs['init_cfg'] = self.block_init_cfg(kwargs['block'])
        return super().make_res_layer(**kwargs)

    def train(self, mode: bool = True) -> 'ResNetBase':
        """mmdet's ``train`` (freezing, ``norm_eval``), returning ``self`` so ``model.eval()`` chains."""
        super().train(mode)
        return self

    def _freeze_stages(self) -> None:
        """mmdet's freezing of the stem and the first ``frozen_stages`` stages; with
        ``freeze_added_parts=False``, of those stages' ResNet trunk only."""
        if self.freeze_added_parts or self.frozen_stages < 1:
            super()._freeze_stages()
            return
        frozen_stages, self.frozen_stages = self.frozen_stages, 0
        try:
            super()._freeze_stages()  # the stem
        finally:
            self.frozen_stages = frozen_stages
        for stage_name in self.res_layers[:frozen_stages]:
            for part in self.trunk_modules(stage_name):
                part.eval()
                for param in part.parameters():
                    param.requires_grad = False

    def blocks_of(self, stage_name: str) -> nn.Module:
        """The blocks of stage ``stage_name`` (``'layer1'``, ...), wherever the stage keeps them."""
        stage = getattr(self, stage_name)
        return getattr(stage, 'blocks', stage)

    def trunk_modules(self, stage_name: str) -> Iterator[nn.Module]:
        """The ResNet parts of a stage's blocks: their convs, norms and downsample."""
        for block in self.blocks_of(stage_name):
            for name in RESNET_BLOCK_PARTS:
                part = getattr(block, name, None)
                if isinstance(part, nn.Module):
                    yield part

    # ---------------------------------------------------------------------- initialisation
    def init_weights(self) -> None:
        """mmengine's initialisation, with checkpoints loaded last and checked.

        ``Pretrained`` and ``ResNetWarmStart`` entries of ``init_cfg`` apply after the model was
        initialised as if there were no checkpoint (mmdet ResNet's Kaiming and constant init, or the other
        entries, and each part's own ``init_weights``), so that whatever the file does not hold starts as
        ``init_weights`` makes it. ``Pretrained`` must fill every tensor of the backbone and
        ``ResNetWarmStart`` every tensor of its ResNet trunk; otherwise the load stops with one line saying
        what fit and what the file holds. Each load logs one report line, kept in ``checkpoint_reports``.
        """
        cfgs = init_cfg_list(self.init_cfg)
        loads = [cfg for cfg in cfgs if checkpoint_init_kind(cfg)]
        if not loads:
            super().init_weights()
            return
        self.init_cfg = [cfg for cfg in cfgs if not checkpoint_init_kind(cfg)] or [dict(c) for c in FRESH_INIT_CFG]
        try:
            super().init_weights()
        finally:
            self.init_cfg = cfgs
        self.checkpoint_reports = [apply_checkpoint_init(self, cfg) for cfg in loads]

    def widen_resnet_tensor(
        self, key: str, resnet_value: torch.Tensor, own_value: torch.Tensor
    ) -> Optional[torch.Tensor]:
        """The value of this backbone's tensor ``key`` from a ResNet tensor of another shape, or ``None`` if it
        cannot take it (a warm start then stops). A family whose convs read more than the ResNet's do
        overrides it (RLA's first convs also read ``h``)."""
        return None

    def widened_note(self, keys: List[str]) -> str:
        """The report's words on the tensors :meth:`widen_resnet_tensor` placed."""
        return f'{len(keys)} tensors widened'

    def preserve_resnet_function(self) -> List[str]:
        """Called after a ``ResNetWarmStart``: set the family's parts on the main path so that the network
        computes the ResNet's function with eval-mode norms, where the family can; return notes for the
        report (what was set, and what changes the function by design)."""
        attention = sum(
            getattr(block, 'attention', None) is not None for name in self.res_layers for block in self.blocks_of(name)
        )
        if not attention:
            return []
        return [
            f'{attention} blocks have channel attention, which a ResNet has not: it starts as init_weights '
            'makes it and changes the function'
        ]

    # ---------------------------------------------------------------------- forward pass
    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        return self.maxpool(x)

    def init_state(self, x: torch.Tensor) -> Any:
        """The state entering the first stage (``None`` for stateless families)."""
        return None

    def stage_output(self, stage_index: int, x: torch.Tensor, state: Any) -> torch.Tensor:
        """The feature map returned for ``stage_index`` (a hook for classification outputs)."""
        return x

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.forward_stem(x)
        state = self.init_state(x)
        outs = []
        for i, layer_name in enumerate(self.res_layers):
            stage = getattr(self, layer_name)
            if isinstance(stage, StatefulLayer):
                x, state = stage(x, state)
            else:
                x = stage(x)
            if i in self.out_indices:
                outs.append(self.stage_output(i, x, state))
        return tuple(outs)


def bottleneck_last_conv_input(block: Bottleneck, conv1_out: torch.Tensor) -> torch.Tensor:
    """The branch of mmdet's Bottleneck (plugins included) after its first conv, up to the input of
    its last 1x1 conv ``conv3``.

    Takes the first conv's output, so that a family can compute that conv its own way (RLA reads
    the block input and its state there).
    """
    out = block.relu(block.norm1(conv1_out))
    if block.with_plugins:
        out = block.forward_plugin(out, block.after_conv1_plugin_names)
    out = block.relu(block.norm2(block.conv2(out)))
    if block.with_plugins:
        out = block.forward_plugin(out, block.after_conv2_plugin_names)
    return out


def bottleneck_last_conv(block: Bottleneck, conv3_in: torch.Tensor) -> torch.Tensor:
    """The end of mmdet's Bottleneck branch: ``conv3``, ``norm3`` and the ``after_conv3`` plugins."""
    out = block.norm3(block.conv3(conv3_in))
    if block.with_plugins:
        out = block.forward_plugin(out, block.after_conv3_plugin_names)
    return out


def bottleneck_residual(block: Bottleneck, conv1_out: torch.Tensor) -> torch.Tensor:
    """The branch of mmdet's Bottleneck (plugins included) after its first conv, up to its last norm
    (:func:`bottleneck_last_conv_input`, then :func:`bottleneck_last_conv`)."""
    return bottleneck_last_conv(block, bottleneck_last_conv_input(block, conv1_out))


def family_arch_settings(basic: Type[nn.Module], bottleneck: Type[nn.Module]) -> Tuple[ArchSettings, ArchSettings]:
    """ResNet's ImageNet and CIFAR depth tables with a family's own BasicBlock and Bottleneck."""

    def with_family_blocks(table: ArchSettings) -> ArchSettings:
        return {
            depth: (bottleneck if issubclass(block, Bottleneck) else basic, blocks)
            for depth, (block, blocks) in table.items()
        }

    return with_family_blocks(ResNet.arch_settings), with_family_blocks(ResNetBase.cifar_arch_settings)


def _is_pretrained(init_cfg: Any) -> bool:
    """Whether ``init_cfg`` loads a checkpoint (``Pretrained`` or ``ResNetWarmStart``)."""
    return any(checkpoint_init_kind(cfg) for cfg in init_cfg_list(init_cfg))
