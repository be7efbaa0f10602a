"""Record what each residual block reads, carries and returns, with forward hooks.

RegNet's Fig. 1(a) shows, for consecutive blocks, the block input ``I``, the regulator's hidden
state ``H`` and the block output ``O``; RLA's argument is its aggregated state ``h``; RoR's is the
residual ``F(x)`` on Refine and Represent channels. :class:`BlockCapture` records these for any
ResNet-style backbone of this package, and for mmdet's (and mmpretrain's) own ``ResNet``, during an
ordinary forward pass of the model: forward hooks on the modules that already compute them, no
second forward pass written beside the real one.

>>> import torch
>>> from mmdet_rla.models import RNNRegNet
>>> from mmdet_rla.analysis import BlockCapture
>>> backbone = RNNRegNet(depth=18, base_channels=8).eval()
>>> with torch.no_grad(), BlockCapture(backbone, blocks=['layer2']) as capture:
...     _ = backbone(torch.rand(1, 3, 64, 64))
>>> {name: sorted(r.states) for name, r in capture.records.items()}
{'layer2.0': ['C', 'H'], 'layer2.1': ['C', 'H']}

What the hooks rely on (keep these when changing a family):

- the backbone lists its stage modules by name in ``res_layers`` (mmdet's ``ResNet`` does) or in
  ``layers`` (mmdet's ``MobileNetV2`` and :class:`~mmdet_rla.models.RLAMobileNetV2`, whose last
  1x1 conv ``conv2`` is not a stage of blocks and is left out); a stage is a sequence of blocks
  (mmdet's ``ResLayer``) or holds them in ``.blocks``
  (:class:`~mmdet_rla.models.backbones.base.StatefulLayer`, ``RLAInvertedResidualLayer``);
- a block's forward reads the block input ``I`` as its first argument and returns ``O`` (first
  element, when it returns a tuple);
- RLA (:class:`~mmdet_rla.models.backbones.rla_resnet.RLAStage`, and the inverted residual
  layers of RLA-MobileNetV2): blocks are called ``block(x, h)``; the state recorded is the ``h`` the block
  reads beside ``I`` (``h^{t-1}`` of Eq. 11, the aggregate of the blocks before it);
- RNNRegNet (:class:`~mmdet_rla.models.backbones.rnn_regnet.RegulatedStage`): blocks return
  ``(out, state)``; the state recorded is the regulator's new state, the ``H^t`` (and ConvLSTM's
  cell ``C^t``) that the block fuses with its features (paper Eqs. 2-3);
- the residual ``F(x)`` is the output of the last module of the residual branch: the block's
  ``attention`` when it has one, else its last ``after_conv3`` plugin, else its last norm
  (``norm2`` of basic blocks, ``norm3`` of bottlenecks); the linear 1x1 conv of inverted residual
  blocks.
"""

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..models.backbones.rla_mobilenet_v2 import RLAInvertedResidualLayer
from ..models.backbones.rla_resnet import RLAStage
from ..models.backbones.rnn_regnet import RegulatedStage

Transform = Callable[[torch.Tensor], torch.Tensor]
BlockSpec = Union[str, int]

# Names of the recorded states per family (RegNet's notation: H hidden, C ConvLSTM cell).
REGULATOR_STATE_NAMES = ('H', 'C')
RLA_STATE_NAME = 'h'
# Stages whose blocks are called ``block(x, h)`` with the RLA state.
RLA_STAGES = (RLAStage, RLAInvertedResidualLayer)


@dataclass
class BlockRecord:
    """What one block read, carried and returned in the last forward pass.

    Attributes:
        name: ``layer{stage}.{block}``, e.g. ``'layer2.0'`` (stages counted from 1 as mmdet names them).
        input: ``I``, the block input, ``(N, C_in, H_in, W_in)``.
        output: ``O``, the block output after its final ReLU, ``(N, C_out, H, W)``.
        states: The family's state, by name: RLA ``{'h': ...}`` (the state the block reads beside
            ``I``), RNNRegNet ``{'H': ...}`` or ``{'H': ..., 'C': ...}`` (ConvLSTM), empty for plain
            ResNet and RoR blocks and for the unregulated stages of an RNNRegNet.
        residual: ``F(x)``, the residual branch before the sum (only when captured with
            ``residual=True``).
    """

    name: str
    input: torch.Tensor
    output: torch.Tensor
    states: Dict[str, torch.Tensor] = field(default_factory=dict)
    residual: Optional[torch.Tensor] = None


def unwrap_backbone(model: nn.Module) -> nn.Module:
    """The backbone of a detector or classifier (``model.backbone``), or ``model`` itself."""
    model = getattr(model, 'module', model)  # (Distributed)DataParallel wrappers
    return getattr(model, 'backbone', model)


def stage_blocks(stage: nn.Module) -> List[nn.Module]:
    """The blocks of one stage module, in order."""
    blocks = getattr(stage, 'blocks', None)
    if blocks is not None:
        return list(blocks)
    if isinstance(stage, nn.Sequential):
        return list(stage)
    raise ValueError(
        f'cannot find the blocks of stage {type(stage).__name__}: expected a sequence of '
        'blocks (mmdet ResLayer) or a module holding them in .blocks'
    )


def iter_blocks(model: nn.Module) -> List[Tuple[str, nn.Module, nn.Module]]:
    """``[(name, block, stage), ...]`` for every residual block of ``model``'s backbone, in order.

    Names are ``layer{s}.{b}``: the stage module's name (``layer1`` ... as in mmdet's ResNet) and
    the block's index in it, whatever the module path (``layer1.0`` or ``layer1.blocks.0``).

    Raises:
        ValueError: The backbone has no ``res_layers`` (not a ResNet-style backbone).
    """
    backbone = unwrap_backbone(model)
    layer_names = getattr(backbone, 'res_layers', None) or getattr(backbone, 'layers', None)
    if not layer_names:
        raise ValueError(
            f'{type(backbone).__name__} is not a residual backbone: block capture needs the '
            'stage names in backbone.res_layers (mmdet ResNet, RLAResNet, RLAResNeXt, RNNRegNet, '
            'RoRResNet, RoRResNeXt, ...) or backbone.layers (MobileNetV2, RLAMobileNetV2)'
        )
    found = []
    for layer_name in layer_names:
        stage = getattr(backbone, layer_name)
        if not isinstance(stage, nn.Sequential) and not hasattr(stage, 'blocks'):
            continue  # a single layer listed among the stages (MobileNetV2's last 1x1 conv)
        found += [(f'{layer_name}.{index}', block, stage) for index, block in enumerate(stage_blocks(stage))]
    return found


def block_names(model: nn.Module) -> List[str]:
    """The names of every block of ``model``'s backbone, in order (``['layer1.0', ...]``)."""
    return [name for name, _, _ in iter_blocks(model)]


def select_blocks(names: Sequence[str], specs: Optional[Iterable[BlockSpec]]) -> List[str]:
    """The block names that ``specs`` select, in network order.

    Each spec is a block name (``'layer3.1'``), a stage name (``'layer3'``: all its blocks), or an
    int indexing the list of all blocks (``-1``: the last block). ``None`` selects every block.

    Raises:
        ValueError: A spec matches no block; the message lists the valid names.
    """
    if specs is None:
        return list(names)
    if isinstance(specs, (str, int)):
        specs = [specs]
    chosen = set()
    for spec in specs:
        if isinstance(spec, str) and re.fullmatch(r'-?\d+', spec):
            spec = int(spec)
        if isinstance(spec, int) and not isinstance(spec, bool):
            if not -len(names) <= spec < len(names):
                raise ValueError(
                    f'blocks: index {spec} is out of range for {len(names)} blocks '
                    f'(allowed: {-len(names)}..{len(names) - 1})'
                )
            chosen.add(names[spec])
            continue
        matches = [n for n in names if n == spec or n.startswith(f'{spec}.')] if isinstance(spec, str) else []
        if not matches:
            raise ValueError(
                f'blocks: {spec!r} names no block; allowed: a block name {list(names)}, '
                f'a stage name {sorted({n.split(".")[0] for n in names})} or an index'
            )
        chosen.update(matches)
    selected = [n for n in names if n in chosen]
    return selected


def residual_output_module(block: nn.Module) -> nn.Module:
    """The last module of ``block``'s residual branch: its output is ``F(x)``, before the sum."""
    attention = getattr(block, 'attention', None)
    if attention is not None:
        return attention
    if hasattr(block, 'linear_conv'):  # RLA-MobileNetV2's inverted residual: the linear 1x1 conv
        return block.linear_conv
    if hasattr(block, 'with_res_shortcut') and isinstance(getattr(block, 'conv', None), nn.Sequential):
        return block.conv[-1]  # mmdet's inverted residual: expand, depthwise, linear
    plugin_names = getattr(block, 'after_conv3_plugin_names', None) if getattr(block, 'with_plugins', False) else None
    if plugin_names:
        return getattr(block, plugin_names[-1])
    last_norm = getattr(block, 'last_norm_name', None)
    if last_norm is None:  # mmdet's own blocks: norm2 (BasicBlock) or norm3 (Bottleneck)
        last_norm = 'norm3' if hasattr(block, 'norm3_name') else 'norm2'
    return getattr(block, last_norm)


def _first(value: Any) -> torch.Tensor:
    return value[0] if isinstance(value, (tuple, list)) else value


def _read_states(stage: nn.Module, args: tuple, kwargs: dict, output: Any) -> Dict[str, torch.Tensor]:
    """The family's state around one block call (see the module docstring)."""
    if isinstance(stage, RLA_STAGES):
        h = args[1] if len(args) > 1 else kwargs.get('h')
        return {} if h is None else {RLA_STATE_NAME: h}
    if isinstance(stage, RegulatedStage):
        state = output[1] if isinstance(output, (tuple, list)) and len(output) > 1 else None
        return {} if state is None else dict(zip(REGULATOR_STATE_NAMES, state))
    return {}


def _detached_copy(tensor: torch.Tensor) -> torch.Tensor:
    # A copy: mmdet's blocks add the shortcut to the residual in place after it is recorded.
    return tensor.detach().clone()


class BlockCapture:
    """Context manager that records :class:`BlockRecord` s of the selected blocks on every forward.

    Args:
        model: A detector, a classifier or a backbone (``model.backbone`` is used when present).
        blocks: Which blocks (see :func:`select_blocks`); ``None``: all.
        residual: Also record each block's residual branch ``F(x)``.
        transform: Applied to every recorded tensor (e.g. global average pooling for probes, or
            ``.cpu()``); default: a detached copy.

    ``records`` maps block names to the records of the **latest** forward pass, in execution
    order; a new forward pass replaces them. Use it under ``torch.no_grad()`` (hooks hold copies).
    The hooks are removed on exit, also when the forward pass raised.
    """

    def __init__(
        self,
        model: nn.Module,
        blocks: Optional[Iterable[BlockSpec]] = None,
        *,
        residual: bool = False,
        transform: Optional[Transform] = None,
    ) -> None:
        all_blocks = iter_blocks(model)
        self.names = select_blocks([name for name, _, _ in all_blocks], blocks)
        self._blocks = [(name, block, stage) for name, block, stage in all_blocks if name in self.names]
        self.residual = residual
        self.transform = transform or _detached_copy
        self.records: Dict[str, BlockRecord] = {}
        self._pending_residuals: Dict[str, torch.Tensor] = {}
        self._handles: List[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> 'BlockCapture':
        self.records = {}
        for name, block, stage in self._blocks:
            self._handles.append(block.register_forward_pre_hook(self._on_block_start(name)))
            self._handles.append(block.register_forward_hook(self._on_block_end(name, stage), with_kwargs=True))
            if self.residual:
                self._handles.append(residual_output_module(block).register_forward_hook(self._on_residual(name)))
        return self

    def __exit__(self, *exc_info) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._pending_residuals = {}

    def _on_block_start(self, name: str):
        def hook(module: nn.Module, args: tuple) -> None:
            if name == self.names[0]:  # a new forward pass: drop the previous one's records
                self.records = {}
            self._pending_residuals.pop(name, None)

        return hook

    def _on_residual(self, name: str):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            self._pending_residuals[name] = self.transform(output)

        return hook

    def _on_block_end(self, name: str, stage: nn.Module):
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            block_input = args[0] if args else next(iter(kwargs.values()))
            states = _read_states(stage, args, kwargs, output)
            self.records[name] = BlockRecord(
                name=name,
                input=self.transform(block_input),
                output=self.transform(_first(output)),
                states={key: self.transform(value) for key, value in states.items()},
                residual=self._pending_residuals.pop(name, None),
            )

        return hook


def global_average_pool(tensor: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W) -> (N, C)``, detached: the pooled features a linear probe reads."""
    return tensor.detach().mean(dim=(2, 3))


__all__ = [
    'BlockCapture',
    'BlockRecord',
    'block_names',
    'global_average_pool',
    'iter_blocks',
    'residual_output_module',
    'select_blocks',
    'stage_blocks',
    'unwrap_backbone',
]
