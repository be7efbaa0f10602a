"""RoR: Refine-or-Represent residual networks (Shen & Gao, IJCAI 2018).

Every residual block splits its output channels into two fixed, randomly drawn groups
(paper Eq. 6)::

    y_i = F_i(x) + x_i      if channel i refines      (Refine: the usual residual sum)
    y_i = F_i(x)            if channel i represents   (Represent: no shortcut at all)

and regularises the Refine channels with a drop-layer (stochastic depth on the Refine part of
the residual only, paper Sec. 3.1). RoR adds no parameters: its blocks are mmdet's
BasicBlock / Bottleneck / ResNeXt Bottleneck with a different summation, stacked in plain mmdet
``ResLayer`` stages, so the parameter names are exactly mmdet's ResNet / ResNeXt names and
ImageNet ResNet weights load directly. The only additions to the state dict are the channel
masks (``layer{s}.{b}.refine_mask``), kept as persistent buffers so a checkpoint carries them.
"""

import math
from typing import Any, Dict, List, Optional

import torch
import torch.utils.checkpoint as cp
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck
from mmdet.models.backbones.resnext import Bottleneck as ResNeXtBottleneck
from torch import nn

from ...registry import register_model
from ...utils import check_choice, check_positive_int
from ..layers.channel_attention import CHANNEL_ATTENTIONS, build_channel_attention
from .base import STEM_TYPES, ArchSettings, ResNetBase, bottleneck_residual

DROP_SCALINGS = ('inverted', 'test_time')
DROP_SCHEDULES = ('constant', 'linear')
CIFAR_ARCHS = ('ror', 'he')
MASK_BUFFER = 'refine_mask'


def check_unit_rate(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is a real number in ``[0, 1)``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f'{name} must be a number in [0, 1), got {value!r}')


def check_seed(value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is a non-negative int (a ``torch.Generator`` seed)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f'seed must be a non-negative integer, got {value!r}')


def num_represent_channels(channels: int, represent_ratio: float) -> int:
    """How many of ``channels`` are Represent: ``ratio * channels`` rounded half up, at least one.

    ``represent_ratio == 0`` gives none (a plain residual block).
    """
    if represent_ratio == 0:
        return 0
    return min(channels, max(1, math.floor(represent_ratio * channels + 0.5)))


def draw_refine_mask(
    channels: int, represent_ratio: float, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """A ``(1, C, 1, 1)`` float mask: 1 for Refine channels, 0 for Represent channels.

    The Represent channels are a uniformly random subset drawn from ``generator`` (a CPU
    ``torch.Generator``; a fresh one seeded with 0 when ``None``), never from the global RNG, so
    the mask depends only on the seed and the architecture: every distributed rank builds the same.
    """
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    mask = torch.ones(1, channels, 1, 1)
    count = num_represent_channels(channels, represent_ratio)
    if count:
        mask[0, torch.randperm(channels, generator=generator)[:count]] = 0
    return mask


class _RoRBlockMixin:
    """What every RoR block adds to its mmdet block: the mask, the drop-layer and Eq. 6.

    The host block provides ``residual(x)`` (the branch ``F(x)`` up to its last norm),
    ``downsample``, ``relu``, ``with_cp`` and the class attribute ``last_norm_name``.
    """

    last_norm_name: str
    downsample: Optional[nn.Module]
    relu: nn.Module
    with_cp: bool
    training: bool
    refine_mask: torch.Tensor

    def __init__(
        self,
        inplanes: int,
        planes: int,
        *,
        represent_ratio: float = 0.05,
        refine_drop_rate: float = 0.2,
        drop_scaling: str = 'inverted',
        mask_generator: Optional[torch.Generator] = None,
        channel_attention: Optional[str] = None,
        se_reduction: int = 16,
        eca_kernel_size: int = 3,
        **kwargs,
    ) -> None:
        # The host mmdet block (next in the MRO) builds its layers from **kwargs; the RoR parts go on top.
        super().__init__(inplanes, planes, **kwargs)  # type: ignore[call-arg]
        self._add_ror_parts(
            planes * self.expansion,  # type: ignore[attr-defined]
            represent_ratio,
            refine_drop_rate,
            drop_scaling,
            mask_generator,
            channel_attention,
            se_reduction,
            eca_kernel_size,
        )

    def _add_ror_parts(
        self,
        out_channels: int,
        represent_ratio: float,
        refine_drop_rate: float,
        drop_scaling: str,
        mask_generator: Optional[torch.Generator],
        channel_attention: Optional[str],
        se_reduction: int,
        eca_kernel_size: int,
    ) -> None:
        check_unit_rate('represent_ratio', represent_ratio)
        check_unit_rate('refine_drop_rate', refine_drop_rate)
        check_choice('drop_scaling', drop_scaling, DROP_SCALINGS)
        self.attention = build_channel_attention(
            channel_attention, out_channels, se_reduction=se_reduction, eca_kernel_size=eca_kernel_size
        )
        self.refine_drop_rate = refine_drop_rate
        self.drop_scaling = drop_scaling
        # Persistent: checkpoints carry the configuration the weights were trained with.
        self.register_buffer(
            MASK_BUFFER, draw_refine_mask(out_channels, represent_ratio, mask_generator), persistent=True
        )

    @property
    def represent_channels(self) -> torch.Tensor:
        """Indices of the Represent channels (those without a shortcut)."""
        return (self.refine_mask.flatten() == 0).nonzero().flatten()

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def combine(self, residual: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        """Eq. 6 plus the drop-layer on Refine channels; the block output before its ReLU.

        ``out = residual * scale + identity * refine_mask`` where ``scale`` is 1 on Represent
        channels and, on Refine channels, the per-sample keep factor while training (``keep /
        (1 - p)`` for inverted scaling, ``keep`` for test-time scaling), 1 at test time
        (``1 - p`` for test-time scaling). Only ``(N, C, 1, 1)``-sized tensors are built: the
        output is written in place into ``residual`` (as mmdet's blocks add their shortcut), whose
        producer (a norm or a channel attention) does not need it for the backward pass, and the
        scale and the mask need no gradient, so autograd saves no full-size tensor for these ops.
        """
        gate = self.refine_mask.to(residual.dtype)
        drop_rate = self.refine_drop_rate
        if drop_rate > 0:
            if self.training:
                # One Bernoulli draw per sample for the whole Refine part (a drop-layer).
                keep = torch.rand((residual.shape[0], 1, 1, 1), device=residual.device) >= drop_rate
                keep = keep.to(residual.dtype)
                if self.drop_scaling == 'inverted':
                    keep = keep / (1 - drop_rate)
                residual = residual.mul_(gate * keep + (1 - gate))
            elif self.drop_scaling == 'test_time':
                residual = residual.mul_(gate * (1 - drop_rate) + (1 - gate))
        # x * 1 is exact, so with no Represent channel this is bit-identical to ``F(x) + x``.
        return residual.addcmul_(identity, gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``ReLU(combine(F(x), shortcut(x)))``; the projected shortcut is masked too."""

        def inner_forward(x: torch.Tensor) -> torch.Tensor:
            out = self.residual(x)
            if self.attention is not None:
                out = self.attention(out)
            identity = x if self.downsample is None else self.downsample(x)
            return self.combine(out, identity)

        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(inner_forward, x, use_reentrant=False)
        else:
            out = inner_forward(x)
        return self.relu(out)

    def init_weights(self) -> None:
        """Apply the block's ``init_cfg`` (zero-init of the last norm) to Refine channels only.

        Represent channels have no shortcut: a zero last norm would leave them dead at the start,
        so they keep whatever the backbone's initialisation gave them.
        """
        norm = getattr(self, self.last_norm_name)
        affine = (getattr(norm, 'weight', None), getattr(norm, 'bias', None))
        before = [(p, p.detach().clone()) for p in affine if isinstance(p, torch.Tensor)]
        super().init_weights()  # type: ignore[misc]
        represent = self.refine_mask.flatten() == 0
        if represent.any():
            with torch.no_grad():
                for param, saved in before:
                    param[represent] = saved[represent]

    def _load_from_state_dict(
        self,
        state_dict: Dict[str, torch.Tensor],
        prefix: str,
        local_metadata: dict,
        strict: bool,
        missing_keys: List[str],
        unexpected_keys: List[str],
        error_msgs: List[str],
    ) -> None:
        """Load as usual, but keep the seeded mask when the checkpoint has none.

        A plain ResNet / ResNeXt checkpoint (mmdet or torchvision layout) has no masks: the seeded
        masks stay and strict loading does not report them missing. A RoR checkpoint carries its
        masks, and they replace the seeded ones.
        """
        mask_key = prefix + MASK_BUFFER
        mask_absent = mask_key not in state_dict
        super()._load_from_state_dict(  # type: ignore[misc]
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        if mask_absent and mask_key in missing_keys:
            missing_keys.remove(mask_key)


class RoRBasicBlock(_RoRBlockMixin, BasicBlock):
    """mmdet BasicBlock (two 3x3 convs) with the Refine-or-Represent summation.

    Args:
        inplanes, planes: As in mmdet's BasicBlock.
        represent_ratio: Fraction of output channels that are Represent (no shortcut).
        refine_drop_rate: Per-sample drop rate of the Refine channels' residual while training.
        drop_scaling: ``'inverted'`` (divide kept residuals by ``1 - p`` while training) or
            ``'test_time'`` (multiply the Refine residual by ``1 - p`` at test time).
        mask_generator: CPU generator the Represent channels are drawn from.
        channel_attention: ``None``, ``'se'`` or ``'eca'`` on the residual, before the sum.
        se_reduction, eca_kernel_size: Settings of the channel attention.
        **kwargs: Every other mmdet BasicBlock argument.
    """

    last_norm_name = 'norm2'

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        return self.norm2(self.conv2(out))


class RoRBottleneck(_RoRBlockMixin, Bottleneck):
    """mmdet Bottleneck (1x1, 3x3, 1x1) with the Refine-or-Represent summation.

    Arguments as :class:`RoRBasicBlock`, plus every mmdet Bottleneck argument (``dcn``,
    ``plugins``, ``style``, ...).
    """

    last_norm_name = 'norm3'

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        return bottleneck_residual(self, self.conv1(x))


class RoRResNeXtBottleneck(RoRBottleneck, ResNeXtBottleneck):
    """mmdet ResNeXt Bottleneck (grouped 3x3) with the Refine-or-Represent summation.

    Arguments as :class:`RoRBasicBlock`, plus mmdet's ``groups``, ``base_width`` and
    ``base_channels`` and every mmdet Bottleneck argument. The MRO puts ResNeXt's constructor (grouped
    ``conv2``) under :class:`RoRBottleneck`'s.
    """


def _halve(name: str, value: int) -> int:
    if value % 2:
        raise ValueError(f'slim=True halves {name}, which must then be even, got {value}')
    return value // 2


class RoRBackbone(ResNetBase):
    """What RoR-ResNet and RoR-ResNeXt share: the RoR arguments, the masks and the drop schedule.

    Not registered; see :class:`RoRResNet` for the arguments.
    """

    def __init__(
        self,
        depth: int,
        represent_ratio: float = 0.05,
        refine_drop_rate: float = 0.2,
        drop_scaling: str = 'inverted',
        drop_schedule: str = 'constant',
        seed: int = 0,
        channel_attention: Optional[str] = None,
        se_reduction: int = 16,
        eca_kernel_size: int = 3,
        slim: bool = False,
        stem_type: str = 'imagenet',
        base_channels: Optional[int] = None,
        stem_channels: Optional[int] = None,
        **kwargs,
    ) -> None:
        check_unit_rate('represent_ratio', represent_ratio)
        check_unit_rate('refine_drop_rate', refine_drop_rate)
        check_choice('drop_scaling', drop_scaling, DROP_SCALINGS)
        check_choice('drop_schedule', drop_schedule, DROP_SCHEDULES)
        check_seed(seed)
        check_choice('channel_attention', channel_attention, CHANNEL_ATTENTIONS)
        check_positive_int('se_reduction', se_reduction)
        check_choice('stem_type', stem_type, STEM_TYPES)
        if base_channels is None:
            base_channels = self.default_base_channels(stem_type)
        check_positive_int('base_channels', base_channels)
        if slim:
            base_channels = _halve('base_channels', base_channels)
            if stem_channels is not None:
                stem_channels = _halve('stem_channels', stem_channels)
        self.represent_ratio = represent_ratio
        self.refine_drop_rate = refine_drop_rate
        self.drop_scaling = drop_scaling
        self.drop_schedule = drop_schedule
        self.seed = seed
        self.channel_attention = channel_attention
        self.se_reduction = se_reduction
        self.eca_kernel_size = eca_kernel_size
        self.slim = slim
        # Every block draws its mask from this one generator, in construction order; it exists
        # only while the stages are built (the global RNG is never touched).
        self._mask_generator = torch.Generator().manual_seed(seed)
        super().__init__(depth, stem_type=stem_type, base_channels=base_channels, stem_channels=stem_channels, **kwargs)
        del self._mask_generator

    def default_base_channels(self, stem_type: str) -> int:
        """Base width when ``base_channels`` is not given (before ``slim`` halves it)."""
        return 64

    def block_kwargs(self) -> Dict[str, Any]:
        """The RoR arguments every block of this backbone receives."""
        return dict(
            represent_ratio=self.represent_ratio,
            refine_drop_rate=self.refine_drop_rate,
            drop_scaling=self.drop_scaling,
            mask_generator=self._mask_generator,
            channel_attention=self.channel_attention,
            se_reduction=self.se_reduction,
            eca_kernel_size=self.eca_kernel_size,
        )

    def block_drop_rate(self, block_index: int, num_blocks: int) -> float:
        """Drop rate of the ``block_index``-th block (0-based) of ``num_blocks``."""
        if self.drop_schedule == 'linear':  # stochastic depth's linear decay rule
            return self.refine_drop_rate * (block_index + 1) / num_blocks
        return self.refine_drop_rate

    def make_res_layer(self, **kwargs) -> nn.Module:
        stage_index = len(self.res_layers)  # mmdet's ResNet appends each stage after building it
        layer = super().make_res_layer(**self.block_kwargs(), **kwargs)
        first = sum(self.stage_blocks[:stage_index])
        for offset, block in enumerate(layer):
            block.refine_drop_rate = self.block_drop_rate(first + offset, sum(self.stage_blocks))
        return layer

    def refine_masks(self) -> Dict[str, torch.Tensor]:
        """Every block's mask by buffer name (``layer1.0.refine_mask``, ...)."""
        return {name: buf for name, buf in self.named_buffers() if name.endswith(MASK_BUFFER)}

    def preserve_resnet_function(self) -> List[str]:
        """After a ``ResNetWarmStart``: nothing to set (RoR adds no parameters), but say where the network
        differs from the ResNet by design: Represent channels have no shortcut, and test-time drop scaling
        scales the Refine residuals."""
        notes = super().preserve_resnet_function()
        masks = self.refine_masks().values()
        represent = sum(int((mask == 0).sum()) for mask in masks)
        if represent:
            notes.append(
                f'{represent} of the {sum(mask.numel() for mask in masks)} block output channels are '
                'Represent (no shortcut; drawn from seed): the network differs from the ResNet by design'
            )
        if self.drop_scaling == 'test_time' and self.refine_drop_rate > 0:
            notes.append("drop_scaling='test_time' scales the Refine residuals at test time: not the ResNet's function")
        return notes


# He et al. 2016: BasicBlock nets of 6n+2 layers, ResNet-164 with bottlenecks.
_HE_CIFAR_ARCH_SETTINGS: ArchSettings = {
    depth: (RoRBottleneck if block is Bottleneck else RoRBasicBlock, blocks)
    for depth, (block, blocks) in ResNetBase.cifar_arch_settings.items()
}
# RoR paper, Table 2: ResNet-56/110/164 are bottleneck nets (9n+2 layers: 18/36/54 blocks).
_ROR_CIFAR_ARCH_SETTINGS: ArchSettings = {
    **{depth: _HE_CIFAR_ARCH_SETTINGS[depth] for depth in (20, 32, 44)},
    56: (RoRBottleneck, (6, 6, 6)),
    110: (RoRBottleneck, (12, 12, 12)),
    164: (RoRBottleneck, (18, 18, 18)),
}


@register_model
class RoRResNet(RoRBackbone):
    r"""Refine-or-Represent ResNet (Shen & Gao, IJCAI 2018).

    In every block a fixed random subset of output channels (``represent_ratio``, at least one)
    is *Represent*, the rest *Refine* (paper Eq. 6):

    .. math::
        y_i = \begin{cases} \mathcal{F}_i(x) + x_i & i \text{ Refine} \\
                            \mathcal{F}_i(x)       & i \text{ Represent} \end{cases}

    and while training the residual :math:`\mathcal{F}_i` of the Refine channels is dropped per
    sample with rate ``refine_drop_rate`` (a drop-layer, i.e. stochastic depth, on all but the
    Represent channels, Sec. 3.1). Represent channels are never dropped. ``represent_ratio=0``
    gives ResNet with stochastic depth (the paper's SDepth baseline); with ``refine_drop_rate=0``
    too, exactly mmdet's ResNet.

    Decisions on what the paper leaves open (defaults follow ``shared/notes/design.md``):

    - The masks are drawn once at construction from a ``torch.Generator`` seeded with ``seed``
      (never the global RNG) and kept as persistent buffers: every rank and every checkpoint
      agree. ``round(ratio * C)`` channels (half up, at least one) per block.
    - Projection blocks mask the projected shortcut the same way.
    - ``drop_scaling='inverted'`` divides kept residuals by ``1 - p`` while training (test time is
      the plain network); ``'test_time'`` is the original stochastic-depth rule (train
      unscaled, multiply the Refine residual by ``1 - p`` at test time).
    - ``drop_schedule='constant'`` uses ``refine_drop_rate`` in every block (the paper's "dropout
      rate 0.2"); ``'linear'`` is stochastic depth's rule, ``p_l = p * l / L``.
    - Zero-init of the last norm (``zero_init_residual``) spares Represent channels.
    - CIFAR nets (``stem_type='cifar'``): ``cifar_arch='ror'`` follows the paper's Table 2, i.e.
      bottleneck nets with 6/12/18 blocks per stage for depths 56/110/164 (9n+2) and base width
      32 (16 with ``slim=True``); depths 20/32/44 are He et al.'s BasicBlock nets.
      ``cifar_arch='he'`` gives He et al.'s table (BasicBlock up to 110, bottleneck 164) at width
      16, the layout of the other families here.

    Args:
        depth: 18, 34, 50, 101 or 152 (ImageNet stem); 20, 32, 44, 56, 110 or 164 (CIFAR stem).
        represent_ratio: Fraction of Represent channels per block, in [0, 1). Paper: 0.05.
        refine_drop_rate: Drop rate of the Refine residual, in [0, 1). Paper: 0.2.
        drop_scaling: ``'inverted'`` or ``'test_time'`` (see above).
        drop_schedule: ``'constant'`` or ``'linear'`` (see above).
        seed: Seed of the generator the masks are drawn from.
        channel_attention: ``None``, ``'se'`` (SE-RoR nets) or ``'eca'``, on the residual before
            the sum.
        se_reduction: SE reduction ratio (16).
        eca_kernel_size: ECA kernel size.
        slim: Halve every width (the paper's "s" models): ``base_channels`` and ``stem_channels``.
        cifar_arch: ``'ror'`` or ``'he'`` (see above).
        base_channels: Width of the first stage's bottleneck; ``None``: 64 (ImageNet), 32 (CIFAR,
            ``'ror'``) or 16 (CIFAR, ``'he'``), before ``slim``.
        **kwargs: Every :class:`ResNetBase` / mmdet ``ResNet`` argument (``out_indices``,
            ``frozen_stages``, ``norm_cfg``, ``norm_eval``, ``with_cp``, ``style``, ``dcn``,
            ``plugins``, ``zero_init_residual``, ``init_cfg``, ``stem_type``, ...).

    Example:
        >>> import torch
        >>> from mmdet_rla.models import RoRResNet
        >>> model = RoRResNet(depth=50)
        >>> _ = model.eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 97, 131))]
        [(1, 256, 25, 33), (1, 512, 13, 17), (1, 1024, 7, 9), (1, 2048, 4, 5)]
    """

    arch_settings: ArchSettings = {
        18: (RoRBasicBlock, (2, 2, 2, 2)),
        34: (RoRBasicBlock, (3, 4, 6, 3)),
        50: (RoRBottleneck, (3, 4, 6, 3)),
        101: (RoRBottleneck, (3, 4, 23, 3)),
        152: (RoRBottleneck, (3, 8, 36, 3)),
    }
    he_cifar_arch_settings: ArchSettings = _HE_CIFAR_ARCH_SETTINGS
    cifar_arch_settings: ArchSettings = _ROR_CIFAR_ARCH_SETTINGS

    def __init__(self, depth: int, cifar_arch: str = 'ror', **kwargs) -> None:
        check_choice('cifar_arch', cifar_arch, CIFAR_ARCHS)
        self.cifar_arch = cifar_arch
        super().__init__(depth, **kwargs)

    def arch_table(self, stem_type: str) -> ArchSettings:  # type: ignore[override]
        """The depth table of ``stem_type`` (for CIFAR, of ``cifar_arch``)."""
        if stem_type != 'cifar':
            return self.arch_settings
        return self.cifar_arch_settings if self.cifar_arch == 'ror' else self.he_cifar_arch_settings

    def default_base_channels(self, stem_type: str) -> int:
        if stem_type == 'cifar':
            return 32 if self.cifar_arch == 'ror' else 16
        return 64


@register_model
class RoRResNeXt(RoRBackbone):
    r"""Refine-or-Represent ResNeXt (Shen & Gao, IJCAI 2018): mmdet's ResNeXt with RoR blocks.

    The summation of every aggregated-transformation block follows Eq. 6 of the paper,

    .. math::
        y_i = \mathcal{F}_i(x) + [i \in \text{Refine}]\, x_i,

    with the same masks, drop-layer and decisions as :class:`RoRResNet`.

    Args:
        depth: 50, 101 or 152 (ImageNet stem) or 29 (CIFAR stem: 3 stages of 3 blocks,
            ResNeXt-29 of Xie et al.).
        groups: Cardinality; ``None``: 32 (ImageNet, 32x4d) or 8 (CIFAR, 8x64d).
        base_width: Width per group in the first stage; ``None``: 4 (ImageNet) or 64 (CIFAR).
        base_channels: ``None``: 64 for both stems (CIFAR: 64-channel 3x3 stem, stages of
            256/512/1024 output channels).
        slim: Halve every width: ``base_channels``, ``stem_channels`` and ``base_width`` (the
            paper's ResNeXt-29s: 8x32d, 8.6M parameters).
        **kwargs: Every :class:`RoRResNet` argument except ``cifar_arch``.

    Example:
        >>> import torch
        >>> from mmdet_rla.models import RoRResNeXt
        >>> model = RoRResNeXt(depth=29, stem_type='cifar', channel_attention='se')
        >>> _ = model.eval()
        >>> [tuple(o.shape) for o in model(torch.rand(2, 3, 32, 32))]
        [(2, 256, 32, 32), (2, 512, 16, 16), (2, 1024, 8, 8)]
    """

    arch_settings: ArchSettings = {
        50: (RoRResNeXtBottleneck, (3, 4, 6, 3)),
        101: (RoRResNeXtBottleneck, (3, 4, 23, 3)),
        152: (RoRResNeXtBottleneck, (3, 8, 36, 3)),
    }
    cifar_arch_settings: ArchSettings = {29: (RoRResNeXtBottleneck, (3, 3, 3))}

    _DEFAULT_GROUPS_AND_WIDTH = {'imagenet': (32, 4), 'cifar': (8, 64)}

    def __init__(self, depth: int, groups: Optional[int] = None, base_width: Optional[int] = None, **kwargs) -> None:
        stem_type = kwargs.get('stem_type', 'imagenet')
        check_choice('stem_type', stem_type, STEM_TYPES)
        default_groups, default_width = self._DEFAULT_GROUPS_AND_WIDTH[stem_type]
        groups = default_groups if groups is None else groups
        base_width = default_width if base_width is None else base_width
        check_positive_int('groups', groups)
        check_positive_int('base_width', base_width)
        if kwargs.get('slim', False):
            base_width = _halve('base_width', base_width)
        self.groups = groups
        self.base_width = base_width
        super().__init__(depth, **kwargs)

    def arch_table(self, stem_type: str) -> ArchSettings:  # type: ignore[override]
        return self.cifar_arch_settings if stem_type == 'cifar' else self.arch_settings

    def block_kwargs(self) -> Dict[str, Any]:
        return dict(
            super().block_kwargs(), groups=self.groups, base_width=self.base_width, base_channels=self.base_channels
        )
