"""Starting the families from checkpoints: checked ``Pretrained`` loads and warm starts from ImageNet ResNets.

Two ``init_cfg`` types load a file into a backbone of this package (:class:`~.backbones.base.ResNetBase`
applies them after everything else is initialised, see its ``init_weights``):

``dict(type='Pretrained', checkpoint=..., prefix=None)``
    mmengine's type, for a checkpoint *of this backbone* (the authors' converted RLA weights, a
    classifier trained with ``configs/classification``). mmengine loads it non-strictly and lists
    whatever did not fit as hundreds of key names; here the file must hold every tensor of the
    backbone, or the load stops with one line: how many tensors fit, which parts got none, and what
    the file looks like (a plain ResNet, say, which wants the next type).

``dict(type='ResNetWarmStart', checkpoint=..., prefix=None)``
    An ImageNet ResNet/ResNeXt in torchvision's, mmdet's or mmpretrain's layout
    (``'torchvision://resnet50'``, ``'open-mmlab://resnext101_32x4d'``, a local file, a classifier or
    detector checkpoint whose trunk is under ``backbone.``) loaded into a family: every trunk tensor
    from the file, the family's own parts as ``init_weights`` makes them, then set (per family) so
    that the network computes the ResNet's function with eval-mode norms. Registered in mmengine's
    ``WEIGHT_INITIALIZERS``, so it also starts mmdet's own ``ResNet``/``ResNeXt`` (then a plain load).

Both log one report line: tensors from the file, tensors initialised fresh and why, tensors of the
file left unused. Local files are read with ``torch.load(weights_only=True)``; ``torchvision://``,
``open-mmlab://`` and URLs go through mmengine's ``CheckpointLoader`` (``weights_only`` default of torch).
"""

import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from mmengine.model import PretrainedInit
from mmengine.registry import WEIGHT_INITIALIZERS
from torch import nn

# Parts of a ResNet block (torchvision's and mmdet's names; mmpretrain's are the same) and of its stem.
RESNET_BLOCK_PARTS = ('conv1', 'bn1', 'conv2', 'bn2', 'conv3', 'bn3', 'downsample')
RESNET_STEM_PARTS = ('conv1', 'bn1', 'stem')
_BLOCK_KEY = re.compile(r'^layer(\d+)\.(\d+)\.(.+)$')
# Where a file keeps its ResNet trunk: torchvision / mmdet backbones at the top, mmpretrain classifiers and mmdet
# detectors under ``backbone.``.
_TRUNK_PREFIXES = ('', 'backbone.')
WARM_START_TYPES = ('ResNetWarmStart',)
PRETRAINED_TYPES = ('Pretrained',)


# --------------------------------------------------------------------------------- reading files
def read_state_dict(checkpoint: str, map_location: Any = 'cpu') -> Dict[str, torch.Tensor]:
    """The tensors of ``checkpoint``: its ``state_dict`` (or the file's dict itself), DDP's ``module.`` prefix
    removed.

    Local files go through :func:`~mmdet_rla.engine.checkpoint_files.load_checkpoint_file`
    (``weights_only=True``, errors naming the file); other schemes through mmengine's ``CheckpointLoader``.
    """
    from mmengine.runner.checkpoint import CheckpointLoader

    from ..engine.checkpoint_files import load_checkpoint_file

    if '://' in checkpoint and not checkpoint.startswith('file://'):
        loaded = CheckpointLoader.load_checkpoint(checkpoint, map_location=map_location)
    else:
        loaded = load_checkpoint_file(checkpoint.replace('file://', '', 1), map_location=map_location)
    state = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, Mapping) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f'checkpoint {checkpoint!r} holds no state dict of tensors (found a {type(loaded).__name__})')
    return OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state.items() if isinstance(v, torch.Tensor))


def with_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    """The tensors under ``prefix`` with the prefix removed (mmengine's ``Pretrained`` ``prefix``)."""
    if not prefix:
        return dict(state)
    prefix = prefix if prefix.endswith('.') else prefix + '.'
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def describe_layout(state: Mapping[str, torch.Tensor]) -> str:
    """What a state dict looks like, in words, for messages: a ResNet (where, which depth), a checkpoint of
    this package's families, the RLA-Net authors' layout, or its first keys."""
    for prefix in _TRUNK_PREFIXES:
        trunk = with_prefix(state, prefix)
        if any(k.startswith('layer1.blocks.') for k in trunk):
            return (
                f"a checkpoint of one of this package's stateful families (layer1.blocks.*"
                f'{", under backbone." if prefix else ""})'
            )
        if 'layer1.0.conv1.weight' in trunk:
            if not prefix:
                where = 'at the top level (torchvision / mmdet backbone layout)'
            elif any(k.startswith(('head.fc.', 'head.layers.')) for k in state):
                where = 'under backbone. (an mmpretrain classifier)'
            elif any(k.startswith(('neck.', 'rpn_head.', 'bbox_head.', 'roi_head.')) for k in state):
                where = 'under backbone. (an mmdet detector)'
            else:
                where = 'under backbone.'
            return f'{describe_resnet(trunk)} {where}'
    if any(k.startswith('stages.0.') for k in state) and any(k.startswith('conv_outs.') for k in state):
        return "the RLA-Net authors' layout (convert it with tools/model_converters/rlanet2mmdet.py)"
    return f'no ResNet trunk (its first keys: {list(state)[:3]})'


def _resnet_prefix(state: Mapping[str, torch.Tensor]) -> Optional[str]:
    """Where ``state`` keeps a ResNet trunk in torchvision's / mmdet's names ('' or 'backbone.'), or ``None``."""
    for prefix in _TRUNK_PREFIXES:
        if prefix + 'layer1.0.conv1.weight' in state:
            return prefix
    return None


def resnet_stage_blocks(trunk: Mapping[str, torch.Tensor]) -> Tuple[int, ...]:
    """Blocks per stage of a ResNet state dict (``layer{s}.{b}.*`` keys)."""
    blocks: Dict[int, int] = {}
    for key in trunk:
        match = _BLOCK_KEY.match(key)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            blocks[stage] = max(blocks.get(stage, 0), block + 1)
    return tuple(blocks[s] for s in sorted(blocks))


def describe_resnet(trunk: Mapping[str, torch.Tensor]) -> str:
    """``'a ResNet-50 (bottleneck blocks 3-4-6-3)'``, ``'a ResNeXt-101 (32 groups, bottleneck blocks 3-4-23-3)'``."""
    blocks = resnet_stage_blocks(trunk)
    bottleneck = 'layer1.0.conv3.weight' in trunk
    per_block = 3 if bottleneck else 2
    conv2 = trunk.get('layer1.0.conv2.weight')
    groups = conv2.shape[0] // conv2.shape[1] if conv2 is not None and conv2.dim() == 4 and conv2.shape[1] else 1
    family = 'ResNeXt' if groups > 1 else 'ResNet'
    depth = f'-{2 + per_block * sum(blocks)}' if blocks else ''
    details = [f'{groups} groups'] if groups > 1 else []
    details.append(f'{"bottleneck" if bottleneck else "basic"} blocks {"-".join(map(str, blocks))}')
    return f'a {family}{depth} ({", ".join(details)})'


# --------------------------------------------------------------------------------- the report
@dataclass
class LoadReport:
    """What a checkpoint load did to a backbone, for the one-line log and for tests."""

    kind: str  # 'Pretrained' or 'ResNetWarmStart'
    model: str  # e.g. 'RLAResNet-50'
    checkpoint: str
    layout: str  # describe_layout of the file
    loaded: List[str] = field(default_factory=list)  # the model's keys that came from the file
    fresh: Dict[str, List[str]] = field(default_factory=dict)  # part name -> the model's keys initialised fresh
    unused: List[str] = field(default_factory=list)  # the file's keys that went nowhere
    notes: List[str] = field(default_factory=list)  # what the family did to its new parts, and why

    def summary(self) -> str:
        parts = [
            f'{self.kind}: {self.model} from {self.checkpoint!r} ({self.layout}): '
            f'{len(self.loaded)} tensors from the checkpoint'
        ]
        fresh = sum(len(keys) for keys in self.fresh.values())
        if fresh:
            parts.append(f'{fresh} initialised fresh ({", ".join(sorted(self.fresh))})')
        if self.unused:
            parts.append(f'{len(self.unused)} of the file unused (e.g. {", ".join(self.unused[:3])})')
        return '; '.join(parts) + ''.join(f'. {note[:1].upper()}{note[1:]}' for note in self.notes)


# --------------------------------------------------------------------------------- trunk and added parts
def block_prefixes(module: nn.Module) -> Dict[str, str]:
    """``{'layer1.0': 'layer1.blocks.0', ...}``: where each ResNet block of ``module`` sits in its state dict
    (a stage holds its blocks as a sequence, as mmdet's ``ResLayer``, or in ``.blocks``)."""
    prefixes = {}
    for stage_name in getattr(module, 'res_layers', []):
        stage = getattr(module, stage_name)
        blocks = getattr(stage, 'blocks', stage)
        inner = f'{stage_name}.blocks' if hasattr(stage, 'blocks') else stage_name
        for index in range(len(blocks)):
            prefixes[f'{stage_name}.{index}'] = f'{inner}.{index}'
    return prefixes


def added_part(key: str, stage_names: Iterable[str], blocks: Iterable[str]) -> Optional[str]:
    """The name of the family part ``key`` belongs to (``'conv_out'``, ``'fusion_conv'``, ``'attention'``,
    ...), or ``None`` for a ResNet trunk tensor (stem, block convs, norms and downsample)."""
    for block in blocks:
        if key.startswith(block + '.'):
            part = key[len(block) + 1 :].split('.')[0]
            return None if part in RESNET_BLOCK_PARTS else part
    head = key.split('.')[0]
    if head in stage_names:
        return key.split('.')[1]
    return None if head in RESNET_STEM_PARTS else head


def split_trunk(module: nn.Module) -> Tuple[List[str], Dict[str, List[str]]]:
    """``(trunk keys, {added part: keys})`` of ``module``'s state dict."""
    stages = list(getattr(module, 'res_layers', []))
    blocks = list(block_prefixes(module).values())
    trunk: List[str] = []
    added: Dict[str, List[str]] = {}
    for key in module.state_dict():
        part = added_part(key, stages, blocks)
        if part is None:
            trunk.append(key)
        else:
            added.setdefault(part, []).append(key)
    return trunk, added


def model_name(module: nn.Module) -> str:
    depth = getattr(module, 'depth', None)
    return f'{type(module).__name__}-{depth}' if depth is not None else type(module).__name__


def _part_summary(keys: Sequence[str], loaded: Iterable[str]) -> str:
    """Which top-level parts of the model got none of their tensors, e.g. ``'layer1, layer2 got none'``."""
    loaded = set(loaded)
    total: Dict[str, int] = OrderedDict()
    hit: Dict[str, int] = {}
    for key in keys:
        top = key.split('.')[0]
        total[top] = total.get(top, 0) + 1
        hit[top] = hit.get(top, 0) + (key in loaded)
    none = [top for top in total if hit[top] == 0]
    some = [f'{top} {hit[top]} of {total[top]}' for top in total if 0 < hit[top] < total[top]]
    return '; '.join(
        filter(
            None, [f'{", ".join(none)} got none' if none else '', f'partly loaded: {", ".join(some)}' if some else '']
        )
    )


# --------------------------------------------------------------------------------- Pretrained, checked
def load_pretrained(
    module: nn.Module, checkpoint: str, prefix: Optional[str] = None, map_location: Any = 'cpu'
) -> LoadReport:
    """``Pretrained`` for a backbone of this package: load ``checkpoint`` (its tensors under ``prefix``) and
    require every tensor of ``module`` from it.

    Raises:
        ValueError: Some of the backbone's tensors are not in the file by name and shape; one line says how
            many fit, which parts got none and what the file looks like.
    """
    state = read_state_dict(checkpoint, map_location)
    file_state = with_prefix(state, prefix or '')
    own = module.state_dict()
    fitting = {k: v for k, v in file_state.items() if k in own and own[k].shape == v.shape}
    result = module.load_state_dict(fitting, strict=False)  # family hooks decide what may be absent (RoR masks)
    missing = [k for k in result.missing_keys if k in own]
    layout = describe_layout(state)
    if missing:
        reshaped = [k for k in file_state if k in own and own[k].shape != file_state[k].shape]
        advice = ''
        if _resnet_prefix(state) is not None and any(key.startswith('layer1.blocks.') for key in own):
            advice = " To start this backbone from a ResNet, use init_cfg=dict(type='ResNetWarmStart', checkpoint=...)."
        elif not prefix and any(k.startswith('backbone.') for k in state):
            advice = " The file keeps a model under 'backbone.': add prefix='backbone.'."
        raise ValueError(
            f'Pretrained checkpoint {checkpoint!r} fits {len(fitting)} of the {len(own)} tensors of this '
            f'{model_name(module)} by name and shape ({_part_summary(list(own), fitting)}'
            f'{f"; {len(reshaped)} have other shapes, e.g. {reshaped[0]}" if reshaped else ""}); the file holds '
            f'{layout}{f" (prefix {prefix!r})" if prefix else ""}.{advice}'
        )
    unused = [k for k in file_state if k not in fitting]
    report = LoadReport('Pretrained', model_name(module), checkpoint, layout, loaded=list(fitting), unused=unused)
    print_log(report.summary(), logger='current', level=logging.INFO)
    return report


# --------------------------------------------------------------------------------- the warm start
def resnet_trunk(state: Mapping[str, torch.Tensor], prefix: Optional[str], checkpoint: str) -> Tuple[Dict, str]:
    """``(trunk tensors without prefix, prefix used)``: where ``state`` keeps a ResNet's stem and blocks."""
    candidates = [prefix] if prefix is not None else list(_TRUNK_PREFIXES)
    for candidate in candidates:
        trunk = with_prefix(state, candidate)
        if 'layer1.0.conv1.weight' in trunk and ('conv1.weight' in trunk or 'stem.0.weight' in trunk):
            return trunk, candidate
    raise ValueError(
        f'ResNetWarmStart: checkpoint {checkpoint!r} holds no ResNet stem and blocks '
        f'(conv1.weight, layer1.0.conv1.weight{f" under {prefix!r}" if prefix else ""}); '
        f'it holds {describe_layout(state)}'
    )


def warm_start_from_resnet(
    module: nn.Module, checkpoint: str, prefix: Optional[str] = None, map_location: Any = 'cpu'
) -> LoadReport:
    """Load an ImageNet ResNet/ResNeXt's trunk into ``module``, then let its family set its new parts.

    The file's stem and blocks (``layer{s}.{b}.*``) go to the module's, wherever the family keeps its blocks
    (:func:`block_prefixes`); a tensor the family widened (RLA's first convs also read ``h``) is placed by
    ``module.widen_resnet_tensor``; ``module.preserve_resnet_function`` then sets the new parts that sit on
    the main path (see :class:`~mmdet_rla.models.backbones.base.ResNetBase`). Every trunk tensor of the module
    comes from the file; stages the module lacks and the classifier are left unused.

    Raises:
        ValueError: The file holds no ResNet, or one of another architecture (blocks per stage, block type,
            widths, groups), or lacks some of the module's trunk tensors.
    """
    state = read_state_dict(checkpoint, map_location)
    trunk, used_prefix = resnet_trunk(state, prefix, checkpoint)
    if used_prefix in _TRUNK_PREFIXES:
        layout = describe_layout(state)
    else:
        layout = f'{describe_resnet(trunk)} under {used_prefix}'
    name = model_name(module)
    prefixes = block_prefixes(module)
    model_blocks = tuple(len(getattr(getattr(module, s), 'blocks', getattr(module, s))) for s in module.res_layers)
    file_blocks = resnet_stage_blocks(trunk)
    if file_blocks[: len(model_blocks)] != model_blocks:
        raise ValueError(
            f'ResNetWarmStart: checkpoint {checkpoint!r} holds {layout}, which does not fit this '
            f'{name} (blocks {"-".join(map(str, model_blocks))})'
        )

    def target(key: str) -> str:
        match = _BLOCK_KEY.match(key)
        if match is None:
            return key
        block = f'layer{match.group(1)}.{match.group(2)}'
        return prefixes.get(block, block) + '.' + match.group(3)

    own = module.state_dict()
    model_trunk, added = split_trunk(module)
    trunk_keys = set(model_trunk)
    new_state = OrderedDict(own)
    loaded, widened, unused = [], [], []
    for key, value in trunk.items():
        goal = target(key)
        if goal not in trunk_keys:
            unused.append(used_prefix + key)
            continue
        placed = value
        if own[goal].shape != value.shape:
            widen = getattr(module, 'widen_resnet_tensor', None)  # mmdet's own ResNet has none
            placed = widen(goal, value, own[goal]) if widen is not None else None
        if placed is None:
            raise ValueError(
                f'ResNetWarmStart: checkpoint {checkpoint!r} holds {layout}, which does not fit this '
                f"{name}: {key} has shape {tuple(value.shape)}, the model's {goal} "
                f'{tuple(own[goal].shape)}'
            )
        if placed is not value:
            widened.append(goal)
        new_state[goal] = placed
        loaded.append(goal)
    absent = [k for k in model_trunk if k not in loaded and not k.endswith('num_batches_tracked')]
    if absent:
        raise ValueError(
            f'ResNetWarmStart: checkpoint {checkpoint!r} ({layout}) lacks {len(absent)} of the '
            f'{len(model_trunk)} trunk tensors of this {name} ({_part_summary(model_trunk, loaded)}), '
            f'e.g. {absent[0]}'
        )
    module.load_state_dict(new_state, strict=True)
    notes = [module.widened_note(widened)] if widened else []
    if hasattr(module, 'preserve_resnet_function'):
        notes += module.preserve_resnet_function()
    unused += [k for k in state if not k.startswith(used_prefix)] if used_prefix else []
    report = LoadReport(
        'ResNetWarmStart', name, checkpoint, layout, loaded=loaded, fresh=added, unused=unused, notes=notes
    )
    print_log(report.summary(), logger='current', level=logging.INFO)
    return report


@WEIGHT_INITIALIZERS.register_module(name='ResNetWarmStart')
class ResNetWarmStartInit:
    """``init_cfg=dict(type='ResNetWarmStart', checkpoint=..., prefix=None, map_location='cpu')``: start a
    backbone from an ImageNet ResNet/ResNeXt checkpoint (:func:`warm_start_from_resnet`).

    On this package's backbones it runs after their own initialisation (their ``init_weights``); on mmdet's
    ``ResNet``/``ResNeXt`` it is a plain load of the layouts above.
    """

    def __init__(self, checkpoint: str, prefix: Optional[str] = None, map_location: Any = 'cpu') -> None:
        if not isinstance(checkpoint, str) or not checkpoint:
            raise ValueError(f'ResNetWarmStart: checkpoint must be a file path or URL, got {checkpoint!r}')
        self.checkpoint = checkpoint
        self.prefix = prefix
        self.map_location = map_location

    def __call__(self, module: nn.Module) -> LoadReport:
        if not hasattr(module, 'res_layers'):
            raise ValueError(
                f'ResNetWarmStart starts ResNet-like backbones (RLAResNet, RNNRegNet, RoRResNet, '
                f"mmdet's ResNet, ...), not a {type(module).__name__}"
            )
        return warm_start_from_resnet(module, self.checkpoint, self.prefix, self.map_location)


def init_cfg_list(init_cfg: Any) -> List[dict]:
    if init_cfg is None:
        return []
    return list(init_cfg) if isinstance(init_cfg, (list, tuple)) else [init_cfg]


def checkpoint_init_kind(cfg: Any) -> Optional[str]:
    """``'Pretrained'``, ``'ResNetWarmStart'`` or ``None`` for an ``init_cfg`` entry."""
    if not isinstance(cfg, dict):
        return None
    kind = cfg.get('type')
    if kind in PRETRAINED_TYPES or kind is PretrainedInit:
        return 'Pretrained'
    if kind in WARM_START_TYPES or kind is ResNetWarmStartInit:
        return 'ResNetWarmStart'
    return None


def apply_checkpoint_init(module: nn.Module, cfg: dict) -> LoadReport:
    """Apply a ``Pretrained`` or ``ResNetWarmStart`` ``init_cfg`` entry to ``module`` (checked, reported)."""
    options = {k: v for k, v in cfg.items() if k != 'type'}
    allowed = ('checkpoint', 'prefix', 'map_location')
    extra = sorted(set(options) - set(allowed))
    if extra or 'checkpoint' not in options:
        raise ValueError(
            f'init_cfg {cfg.get("type")!r} takes {list(allowed)} (checkpoint required), got {sorted(options)}'
        )
    if checkpoint_init_kind(cfg) == 'Pretrained':
        return load_pretrained(module, **options)
    return ResNetWarmStartInit(**options)(module)


__all__ = [
    'LoadReport',
    'ResNetWarmStartInit',
    'apply_checkpoint_init',
    'block_prefixes',
    'checkpoint_init_kind',
    'describe_layout',
    'init_cfg_list',
    'load_pretrained',
    'read_state_dict',
    'split_trunk',
    'warm_start_from_resnet',
]
