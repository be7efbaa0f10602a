"""The RLA-Net authors' ResNet-family checkpoints <-> :class:`RLAResNet` / :class:`RLAResNeXt`.

One family module of :mod:`mmdet_rla.converters.rlanet` (see its docstring for the protocol). It
covers every factory of the authors' ``models/resnet_rla*.py`` files (github
``joyfang1106/RLANet``): RLA-ResNet-50/101/152 and RLA-ResNeXt-50/101 (32x4d, plain / SE / ECA),
and the ablations of the paper's Table 6. Their key layout and ours (stage ``s`` is
``layer{s+1}``; a classifier's backbone keys carry ``backbone.``)::

    official                                 ours
    conv1, bn1                               conv1, bn1
    stages.{s}.{b}.{conv,bn}{1,2,3}          layer{s+1}.blocks.{b}.{conv,norm}{1,2,3}... (same names)
    stages.{s}.{b}.downsample.{0,1}          layer{s+1}.blocks.{b}.downsample.{0,1}
    stages.{s}.{b}.eca.conv / se.fc.{0,2}    layer{s+1}.blocks.{b}.attention.conv / attention.fc.{0,2}
    conv_outs.{s}                            layer{s+1}.conv_out
    recurrent_convs.{s}                      layer{s+1}.recurrent_conv (ConvRNN) or .recurrent_cell
    stage_bns.{s}.{b}                        layer{s+1}.norms.{b}
    stages.{s}.{b}.{conv_out,recurrent_conv,bn_rla}   layer{s+1}.{conv_outs,recurrent_convs,norms}.{b}  (unshared)
    bn2 (BN on the last h)                   layer4.output_norm
    fc                                       head.fc (mmpretrain ImageClassifier)

The cells of the ConvLSTM / ConvGRU ablations are :mod:`mmdet_rla.models.layers.conv_rnn` cells
with a plain 3x3 recurrent convolution; their weights are rearranged, not just renamed:

- ConvLSTM: the authors' gate order is (input, forget, output, cell); ours is (input, forget,
  cell, output): the last two blocks of ``conv.weight``'s output channels swap.
- ConvGRU: their ``gate_conv`` (reset, update) and ``output_conv`` (candidate) are the three gate
  blocks of our one ``conv`` (same inputs: ``[u, h]`` and ``[u, r * h]``). Their update gate
  weights the *old* state (``h' = z h + (1 - z) h~``), ours the new one (``h' = (1 - z) h + z h~``,
  Ballas et al.): ``1 - sigmoid(a) = sigmoid(-a)``, and the gate's layer norm is the last linear
  step before the sigmoid, so negating that norm's weight and bias converts exactly.

Every layout and shape is derived from our own model (built on the ``meta`` device, no memory)
and the renaming below, so the checks of :func:`candidate_archs` and :func:`to_ours` cannot drift
from the model.
"""

import functools
import re
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

Tensor = torch.Tensor
_ECA = (5, 5, 5, 7)
_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
# What every factory of resnet_rla.py and its ablation files computes; 'output' because their
# block hands ``y`` over through an alias that the in-place ``out += identity`` and ReLU overwrite.
_AUTHORS = dict(rla_input='output')


def _factory(
    depth: int,
    file: str,
    *,
    resnext: bool = False,
    attention: Optional[str] = None,
    preferred: bool = False,
    row: Optional[str] = None,
    **design: Any,
) -> Dict[str, Any]:
    # Without the RLA -> main CNN exchange only a classifier reads h: there is no detection backbone.
    classifier_only = design.get('rla_exchange', True) is False
    backbone: Dict[str, Any] = dict(type='RLAResNeXt' if resnext else 'RLAResNet', depth=depth)
    if resnext:
        backbone.update(groups=32, base_width=4)
    if attention == 'eca':
        backbone.update(channel_attention='eca', eca_kernel_sizes=_ECA)
    elif attention == 'se':
        backbone.update(channel_attention='se', se_reduction=16)
    backbone.update(dict(_AUTHORS, **design))
    return dict(backbone=backbone, file=file, preferred=preferred, row=row, classifier_only=classifier_only)


FACTORIES: Dict[str, Dict[str, Any]] = {
    # models/resnet_rla.py: the proposed module. Weights released for R-50/101 and their ECA nets;
    # ``preferred``: chosen when an ablation below shares the key layout (v1-v6 and v1post do).
    **{
        f'rla_resnet{d}{s}': _factory(d, 'models/resnet_rla.py', attention=a, preferred=True)
        for d in (50, 101, 152)
        for s, a in (('', None), ('_eca', 'eca'))
    },
    **{
        f'rla_resnext{d}_32x4d{s}': _factory(d, 'models/resnet_rla.py', resnext=True, attention=a)
        for d in (50, 101)
        for s, a in (('', None), ('_se', 'se'), ('_eca', 'eca'))
    },
    # models/resnet_rla_v1.py: tanh instead of ReLU on the classifier's BN(h).
    'rlav1_resnet50': _factory(50, 'models/resnet_rla_v1.py', rla_output='bn_tanh'),
    'rlav1_resnet50_eca': _factory(50, 'models/resnet_rla_v1.py', attention='eca', rla_output='bn_tanh'),
    # Table 6 (b): unshared RLA parts; this file has no in-place ops, so y is the true residual.
    **{
        f'rlaus_resnet{d}': _factory(d, 'models/resnet_rla_us.py', row='b', share_rla=False, rla_input='residual')
        for d in (50, 101)
    },
    # (c): no RLA -> main CNN exchange.
    'rlarh_resnet50': _factory(50, 'models/resnet_rla_rh.py', row='c', rla_exchange=False),
    # (d): ConvLSTM / ConvGRU cells.
    'rlalstm_resnet50': _factory(50, 'models/resnet_rla_lstm.py', row='d', rla_cell='lstm'),
    **{
        f'rlagru_resnet{d}{s}': _factory(d, 'models/resnet_rla_gru.py', attention=a, row='d (ConvGRU)', rla_cell='gru')
        for d in (50, 101)
        for s, a in (('', None), ('_eca', 'eca'))
    },
    # (e): post-activated recurrent unit.
    'rlav1p_resnet50': _factory(50, 'models/resnet_rla_v1post.py', row='e', rla_activation='post'),
    # (f-j): v2-v6, what is added to h and whether before or after the recurrent unit.
    'rlav2_resnet50': _factory(50, 'models/resnet_rla_v2.py', row='f', rla_integration='after_recurrence'),
    'rlav3_resnet50': _factory(50, 'models/resnet_rla_v3.py', row='g', rla_input='output'),
    'rlav4_resnet50': _factory(
        50, 'models/resnet_rla_v4.py', row='h', rla_input='output', rla_integration='after_recurrence'
    ),
    'rlav5_resnet50': _factory(50, 'models/resnet_rla_v5.py', row='i', rla_input='identity'),
    'rlav6_resnet50': _factory(
        50, 'models/resnet_rla_v6.py', row='j', rla_input='identity', rla_integration='after_recurrence'
    ),
}
# The classifier's fc reads concat(x, h): 2048 + k channels for every net here (k = 32).
_FEAT_DIM = 2048 + 32
_CLASSIFIER_PREFIXES = ('fc.', 'bn2.')


# ------------------------------------------------------------------------------- configs
def model_config(arch: str, *, classifier: bool, num_classes: Optional[int] = None) -> Dict[str, Any]:
    """Our backbone config for ``arch`` (detection: stage outputs only), or with ``classifier=True``
    the mmpretrain ``ImageClassifier`` (``num_classes`` defaults to ImageNet's 1000) whose logits
    equal the authors' model once the converted weights are loaded."""
    _check_arch(arch)
    backbone = dict(FACTORIES[arch]['backbone'])
    if not classifier:
        _check_has_backbone(arch)
        return backbone
    backbone.update(with_rla_output=True, out_indices=(3,))
    return dict(
        type='ImageClassifier',
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead', num_classes=1000 if num_classes is None else num_classes, in_channels=_FEAT_DIM
        ),
    )


def _check_arch(arch: str) -> None:
    if arch not in FACTORIES:
        raise ValueError(f'arch must be one of {sorted(FACTORIES)}, got {arch!r}')


def _check_has_backbone(arch: str) -> None:
    if FACTORIES[arch]['classifier_only']:
        raise ValueError(
            f'{arch} has no RLA -> main CNN exchange: only its classifier reads h, so it has no '
            'detection backbone; convert it as a classifier (--cls)'
        )


# ------------------------------------------------------------------------- the renaming
# A rule turns the official tensors ``sources`` into one of ours, and back.
Rule = Tuple[Tuple[str, ...], Callable[[Sequence[Tensor]], Tensor], Callable[[Tensor], Tuple[Tensor, ...]]]

_BLOCK_PARTS = {
    'conv1': 'conv1',
    'bn1': 'bn1',
    'conv2': 'conv2',
    'bn2': 'bn2',
    'conv3': 'conv3',
    'bn3': 'bn3',
    'downsample.0': 'downsample.0',
    'downsample.1': 'downsample.1',
    'attention.conv': 'eca.conv',
    'attention.fc.0': 'se.fc.0',
    'attention.fc.2': 'se.fc.2',
}
_GRU_NORMS = ('reset_gate_norm', 'update_gate_norm', 'output_norm')
_BLOCK_KEY = re.compile(r'^layer(\d+)\.blocks\.(\d+)\.(.+)\.([a-z_]+)$')
_STAGE_KEY = re.compile(r'^layer(\d+)\.(conv_out|recurrent_conv|output_norm)\.([a-z_]+)$')
_UPDATE_KEY = re.compile(r'^layer(\d+)\.(conv_outs|recurrent_convs|norms)\.(\d+)\.([a-z_]+)$')
_CELL_KEY = re.compile(r'^layer(\d+)\.recurrent_cell\.(.+)\.([a-z_]+)$')


def _rename(official: str) -> Rule:
    return (official,), lambda tensors: tensors[0], lambda tensor: (tensor,)


def _lstm_gates(tensor: Tensor) -> Tensor:
    """Swap the last two of the four gate blocks: (i, f, o, g) <-> (i, f, g, o) (its own inverse)."""
    i, f, a, b = tensor.chunk(4, dim=0)
    return torch.cat([i, f, b, a], dim=0)


def _cell_rule(cell: str, stage: int, part: str, param: str) -> Rule:
    """Rules for the ConvLSTM / ConvGRU cell ``recurrent_cell`` of stage ``stage`` (0-based)."""
    prefix = f'recurrent_convs.{stage}.'
    if cell == 'lstm' and part == 'conv.conv':
        return (prefix + f'conv.{param}',), lambda t: _lstm_gates(t[0]), lambda t: (_lstm_gates(t),)
    if cell == 'gru' and part == 'conv.conv':  # [reset, update | candidate]: gate_conv then output_conv
        return (
            (prefix + f'gate_conv.{param}', prefix + f'output_conv.{param}'),
            lambda t: torch.cat(t, dim=0),
            lambda t: tuple(t.split([2 * t.shape[0] // 3, t.shape[0] // 3], dim=0)),
        )
    match = re.fullmatch(r'gate_norms\.(\d)', part)
    if cell == 'gru' and match:
        gate = int(match.group(1))
        official = prefix + f'{_GRU_NORMS[gate]}.{param}'
        if gate == 1:  # their update gate keeps the old state, ours takes the new one (see the docstring)
            return (official,), lambda t: -t[0], lambda t: (-t,)
        return _rename(official)
    raise ValueError(f"recurrent_cell part {part!r} is not part of the authors' {cell} cell")


def _rule(key: str, cell: str) -> Rule:
    """The rule for our backbone key ``key`` (no ``backbone.`` prefix) of a net with ``cell``."""
    module, _, param = key.rpartition('.')
    if module in ('conv1', 'bn1'):
        return _rename(key)
    match = _BLOCK_KEY.match(key)
    if match and match.group(3) in _BLOCK_PARTS:
        stage, block, part = int(match.group(1)) - 1, match.group(2), match.group(3)
        return _rename(f'stages.{stage}.{block}.{_BLOCK_PARTS[part]}.{param}')
    match = _STAGE_KEY.match(key)
    if match:
        stage, name = int(match.group(1)) - 1, match.group(2)
        if name == 'output_norm':
            return _rename(f'bn2.{param}')
        return _rename(f'{name}s.{stage}.{param}')
    match = _UPDATE_KEY.match(key)
    if match:
        stage, name, step = int(match.group(1)) - 1, match.group(2), match.group(3)
        if name == 'norms':
            return _rename(f'stage_bns.{stage}.{step}.{param}')
        return _rename(f'stages.{stage}.{step}.{name[:-1]}.{param}')  # unshared parts live in the block
    match = _CELL_KEY.match(key)
    if match:
        return _cell_rule(cell, int(match.group(1)) - 1, match.group(2), match.group(3))
    raise ValueError(f'key {key!r} is not part of an RLA-ResNet')


def _unshared_norm_rule(key: str) -> Optional[Rule]:
    """Unshared nets keep their per-block BN inside the block: ``stages.{s}.{b}.bn_rla``."""
    match = _UPDATE_KEY.match(key)
    if match and match.group(2) == 'norms':
        stage, step, param = int(match.group(1)) - 1, match.group(3), match.group(4)
        return _rename(f'stages.{stage}.{step}.bn_rla.{param}')
    return None


def _rules(our_keys: Sequence[str], arch: str) -> 'OrderedDict[str, Rule]':
    """Our key -> its rule, for a state dict of ``arch`` (bare backbone or classifier keys)."""
    design = FACTORIES[arch]['backbone']
    cell, shared = design.get('rla_cell', 'rnn'), design.get('share_rla', True)
    rules: 'OrderedDict[str, Rule]' = OrderedDict()
    for key in our_keys:
        if key.startswith('head.fc.'):
            rules[key] = _rename('fc.' + key[len('head.fc.') :])
            continue
        bare = key[len('backbone.') :] if key.startswith('backbone.') else key
        rules[key] = (None if shared else _unshared_norm_rule(bare)) or _rule(bare, cell)
    return rules


# ----------------------------------------------------------------------------- layouts
@functools.lru_cache(maxsize=None)
def _our_shapes(arch: str, classifier: bool) -> 'OrderedDict[str, torch.Size]':
    """Our state dict's keys and shapes for ``arch``, from a model built on the meta device."""
    from ..registry import MMDET_MODELS, MMPRETRAIN_MODELS

    registry = MMPRETRAIN_MODELS if classifier else MMDET_MODELS
    if registry is None:
        raise ImportError('converting a classifier (--cls) needs mmpretrain, which is not installed')
    with torch.device('meta'):
        model = registry.build(model_config(arch, classifier=classifier))
    return OrderedDict((k, v.shape) for k, v in model.state_dict().items())


@functools.lru_cache(maxsize=None)
def _official_shapes(arch: str, classifier: bool) -> Dict[str, torch.Size]:
    """The authors' keys and shapes for ``arch``: classifier (with ``bn2``/``fc``) or detection layout."""
    if not classifier and FACTORIES[arch]['classifier_only']:  # what a backbone-only file of it holds
        return {k: v for k, v in _official_shapes(arch, True).items() if not k.startswith(_CLASSIFIER_PREFIXES)}
    shapes = _our_shapes(arch, classifier)
    official = to_official(OrderedDict((k, torch.empty(s, device='meta')) for k, s in shapes.items()), arch)
    return {k: v.shape for k, v in official.items()}


def _stage_blocks(state_dict: Mapping[str, Tensor]) -> Tuple[int, ...]:
    blocks: Dict[int, int] = {}
    for key in state_dict:
        match = re.match(r'^stages\.(\d+)\.(\d+)\.', key)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            blocks[stage] = max(blocks.get(stage, 0), block + 1)
    return tuple(blocks[s] for s in sorted(blocks))


def _fits(state_dict: Mapping[str, Tensor], arch: str) -> bool:
    full = _official_shapes(arch, True)
    required = _official_shapes(arch, False)
    if not set(required) <= set(state_dict) <= set(full):
        return False
    # The classifier's own parts come all together or not at all (the last update's norm may be absent).
    head = {k for k in full if k.startswith(_CLASSIFIER_PREFIXES)}
    if head & set(state_dict) not in (set(), head):
        return False
    for key, value in state_dict.items():
        expected = full[key]
        if key.startswith('fc.'):  # any number of classes: compare the input features only
            if value.dim() != len(expected) or value.shape[1:] != expected[1:]:
                return False
        elif value.shape != expected:
            return False
    return True


def candidate_archs(state_dict: Mapping[str, Tensor]) -> List[str]:
    """The factories whose key layout and tensor shapes fit ``state_dict`` (no ``module.`` prefix).

    A state dict without the classifier parts (``bn2``, ``fc``, the last update's norm) fits too:
    the authors' mmdet backbone saves that layout. Several archs fit when their layouts are
    identical: ``rla_resnet50`` and its ablations v1-v6 (and v1post without ``bn2``).
    """
    if 'conv_outs.0.weight' not in state_dict and 'stages.0.0.conv_out.weight' not in state_dict:
        return []
    blocks = _stage_blocks(state_dict)
    return [
        arch
        for arch, facts in FACTORIES.items()
        if _BLOCKS[facts['backbone']['depth']] == blocks and _fits(state_dict, arch)
    ]


def describe_mismatch(state_dict: Mapping[str, Tensor]) -> Optional[str]:
    """Why the closest factory (fewest differing keys and shapes) does not fit ``state_dict``;
    ``None`` when no factory comes close (not an RLA-ResNet at all)."""
    best: Optional[Tuple[int, str, List[str], List[str], List[str]]] = None
    for arch in FACTORIES:
        full, required = _official_shapes(arch, True), _official_shapes(arch, False)
        unexpected = [k for k in state_dict if k not in full]
        missing = [k for k in required if k not in state_dict]
        shapes = [
            f'{k} {tuple(v.shape)} (needs {tuple(full[k])})'
            for k, v in state_dict.items()
            if k in full and not k.startswith('fc.') and v.shape != full[k]
        ]
        score = len(unexpected) + len(missing) + len(shapes)
        if best is None or score < best[0]:
            best = (score, arch, unexpected, missing, shapes)
    if best is None or best[0] > len(state_dict) // 2:
        return None
    _, arch, unexpected, missing, shapes = best
    return (
        f'the closest factory, {arch}, differs by {len(unexpected)} unexpected keys {unexpected[:5]}, '
        f'{len(missing)} missing keys {missing[:5]} and {len(shapes)} shapes {shapes[:3]}'
    )


# -------------------------------------------------------------------------- conversions
def to_ours(
    state_dict: Mapping[str, Tensor], arch: str, *, classifier: bool
) -> Tuple['OrderedDict[str, Tensor]', List[str]]:
    """The authors' ``arch`` state dict -> ours: a detection backbone's bare keys, or with
    ``classifier=True`` an mmpretrain ImageClassifier's (``backbone.*``, ``head.fc.*``).

    Returns ``(converted, dropped_keys)``: a detection backbone drops ``fc``, ``bn2`` and the
    parts of the update after the last block (nothing reads it).

    Raises:
        ValueError: unknown ``arch``; keys that match no part of the model (listed); missing
            keys (listed; ``classifier=True`` needs ``fc`` and ``bn2``); shapes that differ.
    """
    _check_arch(arch)
    if not classifier:
        _check_has_backbone(arch)
    model_type = FACTORIES[arch]['backbone']['type']
    ours = _our_shapes(arch, classifier)
    if classifier and 'fc.weight' in state_dict:  # take the file's number of classes
        ours = _our_shapes_with_classes(arch, int(state_dict['fc.weight'].shape[0]))
    rules = _rules(list(ours), arch)
    used = {source for sources, _, _ in rules.values() for source in sources}
    full = _official_shapes(arch, True)
    unknown = [k for k in state_dict if k not in used and k not in full]
    if unknown:
        raise ValueError(f'{len(unknown)} keys match no part of {model_type} ({arch}), e.g. {unknown[:8]}')
    missing = sorted(used - set(state_dict))
    if missing:
        what = (
            '--cls needs the classifier parts "fc" and "bn2", which this state dict lacks; '
            if classifier and any(k.startswith(_CLASSIFIER_PREFIXES) for k in missing)
            else ''
        )
        raise ValueError(f'{what}{len(missing)} keys of {arch} are missing, e.g. {missing[:8]}')
    converted: 'OrderedDict[str, Tensor]' = OrderedDict()
    for key, (sources, forward, _) in rules.items():
        value = forward([state_dict[s] for s in sources])
        if value.shape != ours[key]:
            raise ValueError(
                f'{sources[0]} has shape {tuple(state_dict[sources[0]].shape)}, which does not fit '
                f'{arch} ({key} needs {tuple(ours[key])})'
            )
        converted[key] = value
    dropped = [k for k in state_dict if k not in used]
    return converted, dropped


def _our_shapes_with_classes(arch: str, num_classes: int) -> 'OrderedDict[str, torch.Size]':
    shapes = OrderedDict(_our_shapes(arch, True))
    shapes['head.fc.weight'] = torch.Size((num_classes, _FEAT_DIM))
    shapes['head.fc.bias'] = torch.Size((num_classes,))
    return shapes


def to_official(state_dict: Mapping[str, Tensor], arch: str) -> 'OrderedDict[str, Tensor]':
    """Ours -> the authors' layout for ``arch``: a bare backbone state dict or a classifier's
    (``backbone.*``, ``head.fc.*``; other keys, e.g. a data preprocessor's, are ignored). Used by
    the tests to build official-layout checkpoints without the authors' code, and to hand weights
    trained here to the authors' scripts."""
    _check_arch(arch)
    has_prefix = any(k.startswith('backbone.') for k in state_dict)
    keys = [k for k in state_dict if not has_prefix or k.startswith(('backbone.', 'head.fc.'))]
    converted: 'OrderedDict[str, Tensor]' = OrderedDict()
    for key, (sources, _, backward) in _rules(keys, arch).items():
        converted.update(zip(sources, backward(state_dict[key])))
    return converted
