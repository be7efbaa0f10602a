"""The RLA-Net authors' MobileNetV2 checkpoints <-> :class:`~mmdet_rla.models.RLAMobileNetV2`.

One family module of the RLA-Net checkpoint converter (``tools/model_converters/rlanet2mmdet.py``):
``FACTORIES``, ``candidate_archs``, ``to_ours``, ``to_official`` and ``model_config``, for every
MobileNetV2 factory of github joyfang1106/RLANet: ``models/mobilenetv2_dsrla.py`` (``dsrla_mobilenetv2*``,
a depthwise recurrent conv; the released ``dsrla_mobilenetv2_k32`` and ``dsrla_mobilenetv2_k32_eca``) and
``models/mobilenetv2_rla.py`` (``rla_mobilenetv2*``, a dense 3x3 recurrent conv). Key layouts::

    official (no 'module.' prefix)              RLAMobileNetV2 / ImageClassifier
    conv1.{0,1}                                 conv1.{conv,bn}
    stages.{s}.{b}.conv1x1.{0,1}                layer{s+1}.blocks.{b}.expand_conv.{conv,bn}
    stages.{s}.{b}.conv.0.{0,1}                 layer{s+1}.blocks.{b}.depthwise_conv.{conv,bn}
    stages.{s}.{b}.conv.{1,2}                   layer{s+1}.blocks.{b}.linear_conv.{conv,bn}
    stages.{s}.{b}.conv.3.conv (ECA)            layer{s+1}.blocks.{b}.attention.conv
    conv_outs.{s}                               layer{s+1}.conv_out
    stage_bns.{s}.{b}                           layer{s+1}.norms.{b}
    recurrent_dsconvs.{g} / recurrent_convs.{g} recurrent_convs.{g}      (g < 5: one module, five copies)
    bn2, conv2.{0,1}                            output_norm, conv2.{conv,bn}
    classifier.1 (after a Dropout(0.2))         head.fc                  (classifier=True; else dropped)

The authors' ``[recurrent_dsconv(...)] * 5`` lists one module five times, so their checkpoints hold
five equal copies of the network's single recurrent conv; ``to_ours`` refuses files whose copies
differ, naming the keys. ``dsrla_mobilenetv2`` / ``rla_mobilenetv2`` build exactly the ``_k32``
networks: ``candidate_archs`` names the ``_k32`` factory (so a released file needs no ``--arch``),
and the aliases are accepted wherever an arch name is.
"""

import re
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

from ..utils import check_choice

__all__ = ['FACTORIES', 'candidate_archs', 'to_ours', 'to_official', 'model_config']


def _factories() -> Dict[str, Dict[str, Any]]:
    table: Dict[str, Dict[str, Any]] = {}
    for prefix, recurrent_conv in (('dsrla', 'depthwise'), ('rla', 'full')):
        for eca in (False, True):
            suffix = '_eca' if eca else ''
            for k in (6, 12, 24, 32):
                table[f'{prefix}_mobilenetv2_k{k}{suffix}'] = dict(
                    rla_channels=k, recurrent_conv=recurrent_conv, eca=eca
                )
            # `dsrla_mobilenetv2(rla_channel=32)`: the k32 network under a second name.
            table[f'{prefix}_mobilenetv2{suffix}'] = dict(
                table[f'{prefix}_mobilenetv2_k32{suffix}'], alias_of=f'{prefix}_mobilenetv2_k32{suffix}'
            )
    return table


# Factory name -> rla_channels, recurrent_conv ('depthwise': dsrla_*, 'full': rla_*), eca, [alias_of].
FACTORIES: Dict[str, Dict[str, Any]] = _factories()

NUM_LAYERS = 7  # rows of the MobileNetV2 table
# Block parts: official sub-module -> ours.
_BLOCK_PARTS = {
    'conv1x1.0': 'expand_conv.conv',
    'conv1x1.1': 'expand_conv.bn',
    'conv.0.0': 'depthwise_conv.conv',
    'conv.0.1': 'depthwise_conv.bn',
    'conv.1': 'linear_conv.conv',
    'conv.2': 'linear_conv.bn',
    'conv.3.conv': 'attention.conv',
}
_TOP_PARTS = {
    'conv1.0': 'conv1.conv',
    'conv1.1': 'conv1.bn',
    'conv2.0': 'conv2.conv',
    'conv2.1': 'conv2.bn',
    'bn2': 'output_norm',
}
_OURS_BLOCK_PARTS = {ours: official for official, ours in _BLOCK_PARTS.items()}
_OURS_TOP_PARTS = {ours: official for official, ours in _TOP_PARTS.items()}
_CLASSIFIER = 'classifier.1'

_STAGE_BLOCK_KEY = re.compile(r'^stages\.(\d+)\.(\d+)\.(.+)$')
_CONV_OUT_KEY = re.compile(r'^conv_outs\.(\d+)$')
_STAGE_BN_KEY = re.compile(r'^stage_bns\.(\d+)\.(\d+)$')
_RECURRENT_KEY = re.compile(r'^recurrent_(?:ds)?convs\.(\d+)$')
_OURS_BLOCK_KEY = re.compile(r'^layer(\d+)\.blocks\.(\d+)\.(.+)$')
_OURS_CONV_OUT_KEY = re.compile(r'^layer(\d+)\.conv_out$')
_OURS_NORM_KEY = re.compile(r'^layer(\d+)\.norms\.(\d+)$')
_OURS_RECURRENT_KEY = re.compile(r'^recurrent_convs\.(\d+)$')


# ------------------------------------------------------------------------------ architectures
def _facts(arch: str) -> Dict[str, Any]:
    check_choice('arch', arch, FACTORIES)
    return FACTORIES[arch]


def _recurrent_name(arch: str) -> str:
    """The authors' ModuleList name: ``recurrent_dsconvs`` (dsrla files) or ``recurrent_convs`` (rla files)."""
    return 'recurrent_dsconvs' if _facts(arch)['recurrent_conv'] == 'depthwise' else 'recurrent_convs'


def model_config(arch: str, *, classifier: bool, num_classes: Optional[int] = None) -> Dict[str, Any]:
    """Our config for the authors' factory ``arch``.

    ``classifier=False``: the ``RLAMobileNetV2`` backbone (mmdet's default ``out_indices`` (1, 2, 4, 7)).
    ``True``: an mmpretrain ``ImageClassifier`` whose backbone returns ``conv2``'s output (index 7,
    which reads ``concat(x, ReLU6(BN(h)))``), then global average pooling and a linear head
    (the authors' ``Dropout(0.2)`` before it is the identity at inference).
    """
    facts = _facts(arch)
    backbone: Dict[str, Any] = dict(
        type='RLAMobileNetV2',
        rla_channels=facts['rla_channels'],
        recurrent_conv=facts['recurrent_conv'],
        recurrent_conv_sharing='network',
    )
    if facts['eca']:
        backbone.update(channel_attention='eca', eca_kernel_sizes=(1, 1, 1, 1, 3, 3, 3))
    if not classifier:
        return dict(backbone, out_indices=(1, 2, 4, 7))
    return dict(
        type='ImageClassifier',
        backbone=dict(backbone, out_indices=(7,)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=1000 if num_classes is None else num_classes,
            in_channels=1280,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
            topk=(1, 5),
        ),
    )


_SHAPES: Dict[str, Dict[str, Tuple[int, ...]]] = {}  # canonical factory -> its official key -> shape


def _official_shapes(arch: str) -> Dict[str, Tuple[int, ...]]:
    """Key -> shape of the authors' ``arch`` network (classifier included, 1000 classes)."""
    canonical = _facts(arch).get('alias_of', arch)
    if canonical not in _SHAPES:
        from mmpretrain.registry import MODELS

        import mmdet_rla.models  # noqa: F401  (registers RLAMobileNetV2)

        with torch.device('meta'):  # shapes only: no memory, no initialisation cost
            model = MODELS.build(model_config(canonical, classifier=True))
        official = _rename_to_official(model.state_dict(), canonical)
        _SHAPES[canonical] = {k: tuple(v.shape) for k, v in official.items()}
    return _SHAPES[canonical]


def _misfit(state_dict: Mapping[str, torch.Tensor], arch: str) -> List[str]:
    """Why ``state_dict`` is not a checkpoint of ``arch`` (``[]`` when it is).

    The classifier may be absent or have any number of classes.
    """
    expected = _official_shapes(arch)
    classifier_keys = {k for k in expected if k.startswith(_CLASSIFIER + '.')}
    problems = []
    missing = sorted(set(expected) - set(state_dict) - classifier_keys)
    unknown = sorted(set(state_dict) - set(expected))
    partial_classifier = 0 < len(classifier_keys & set(state_dict)) < len(classifier_keys)
    if missing:
        problems.append(f'{len(missing)} keys missing, e.g. {missing[:5]}')
    if unknown:
        problems.append(f'{len(unknown)} unknown keys, e.g. {unknown[:5]}')
    if partial_classifier:
        problems.append(f'only part of {_CLASSIFIER}.*')
    wrong = [
        f'{k}: {tuple(state_dict[k].shape)} instead of {expected[k]}'
        for k in expected
        if k in state_dict and k not in classifier_keys and tuple(state_dict[k].shape) != expected[k]
    ]
    fc = state_dict.get(_CLASSIFIER + '.weight')
    if fc is not None and (fc.dim() != 2 or fc.shape[1] != expected[_CLASSIFIER + '.weight'][1]):
        wrong.append(
            f'{_CLASSIFIER}.weight: {tuple(fc.shape)} instead of (num_classes, {expected[_CLASSIFIER + ".weight"][1]})'
        )
    if wrong:
        problems.append(f'{len(wrong)} shapes differ, e.g. {wrong[:3]}')
    return problems


def candidate_archs(state_dict: Mapping[str, torch.Tensor]) -> List[str]:
    """The factories whose key layout and tensor shapes fit ``state_dict`` (aliases left out)."""
    state_dict = _strip_module_prefix(state_dict)
    if 'conv1.0.weight' not in state_dict or not any(k.startswith('stages.0.0.conv.0.0.') for k in state_dict):
        return []  # not a MobileNetV2 of theirs (e.g. an RLA-ResNet): skip building the references
    return [arch for arch, facts in FACTORIES.items() if 'alias_of' not in facts and not _misfit(state_dict, arch)]


# ---------------------------------------------------------------------------- the key mapping
def _strip_module_prefix(state_dict: Mapping[str, torch.Tensor]) -> Mapping[str, torch.Tensor]:
    if state_dict and all(k.startswith('module.') for k in state_dict):
        return OrderedDict((k[len('module.') :], v) for k, v in state_dict.items())
    return state_dict


def check_shared_copies(state_dict: Mapping[str, torch.Tensor], name: str) -> None:
    """Raise ``ValueError`` unless every ``{name}.{g}.weight`` equals ``{name}.0.weight``."""
    keys = sorted(
        (k for k in state_dict if re.match(rf'^{name}\.\d+\.weight$', k)), key=lambda k: int(k.split('.')[-2])
    )
    if not keys:
        return
    first = state_dict[keys[0]]
    differing = [k for k in keys[1:] if state_dict[k].shape != first.shape or not torch.equal(state_dict[k], first)]
    if differing:
        raise ValueError(
            f"{differing} differ from {keys[0]}: the authors' RLA-MobileNetV2 uses ONE recurrent conv for "
            f'the whole network (their ModuleList lists the same module {len(keys)} times), so their '
            'checkpoints hold equal copies. This file was edited or made by other code; RLAMobileNetV2 '
            "with recurrent_conv_sharing='stage' has independent per-stage convs, but the authors' "
            'network (and this converter) cannot represent them.'
        )


def _split(key: str) -> Tuple[str, str]:
    module, _, param = key.rpartition('.')
    return module, param


def _official_to_ours_key(key: str) -> Optional[str]:
    """Our name of the official ``key`` (``head.fc.*`` for the fc); ``None`` when unknown."""
    module, param = _split(key)
    if module in _TOP_PARTS:
        return f'{_TOP_PARTS[module]}.{param}'
    if module == _CLASSIFIER:
        return f'head.fc.{param}'
    match = _STAGE_BLOCK_KEY.match(module)
    if match and match.group(3) in _BLOCK_PARTS:
        return f'layer{int(match.group(1)) + 1}.blocks.{match.group(2)}.{_BLOCK_PARTS[match.group(3)]}.{param}'
    match = _CONV_OUT_KEY.match(module)
    if match:
        return f'layer{int(match.group(1)) + 1}.conv_out.{param}'
    match = _STAGE_BN_KEY.match(module)
    if match:
        return f'layer{int(match.group(1)) + 1}.norms.{match.group(2)}.{param}'
    match = _RECURRENT_KEY.match(module)
    if match:
        return f'recurrent_convs.{match.group(1)}.{param}'
    return None


def to_ours(
    state_dict: Mapping[str, torch.Tensor], arch: str, *, classifier: bool
) -> Tuple['OrderedDict[str, torch.Tensor]', List[str]]:
    """Rename the authors' ``arch`` state dict to ours.

    Args:
        state_dict: The authors' state dict (a ``module.`` prefix is removed).
        arch: One of :data:`FACTORIES`.
        classifier: ``False``: bare ``RLAMobileNetV2`` keys (the fc is dropped). ``True``: mmpretrain
            ``ImageClassifier`` keys (``backbone.*``, ``head.fc.*``) for :func:`model_config`.

    Returns:
        ``(converted, dropped_keys)``.

    Raises:
        ValueError: ``arch`` unknown, keys or shapes that do not fit ``arch`` (listed), the shared
            recurrent conv's copies disagreeing (keys named), or ``classifier=True`` without the fc.
    """
    state_dict = _strip_module_prefix(state_dict)
    problems = _misfit(state_dict, arch)
    if problems:
        raise ValueError(
            f"this state dict is not an authors' {arch} checkpoint: {'; '.join(problems)}. "
            f'Factories whose layout fits: {candidate_archs(state_dict) or "none"}'
        )
    check_shared_copies(state_dict, _recurrent_name(arch))
    if classifier and _CLASSIFIER + '.weight' not in state_dict:
        raise ValueError(f'classifier=True (--cls) needs the fc layer "{_CLASSIFIER}", which this state dict lacks')
    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    dropped: List[str] = []
    for key, value in state_dict.items():
        new_key = _official_to_ours_key(key)
        assert new_key is not None, key  # _misfit let only the arch's own keys through
        if new_key.startswith('head.'):
            if classifier:
                converted[new_key] = value
            else:
                dropped.append(key)
        else:
            converted[('backbone.' if classifier else '') + new_key] = value
    return converted, dropped


def _our_to_official_key(key: str, recurrent_name: str) -> str:
    module, param = _split(key)
    if module in _OURS_TOP_PARTS:
        return f'{_OURS_TOP_PARTS[module]}.{param}'
    if module == 'head.fc':
        return f'{_CLASSIFIER}.{param}'
    match = _OURS_BLOCK_KEY.match(module)
    if match and match.group(3) in _OURS_BLOCK_PARTS:
        return f'stages.{int(match.group(1)) - 1}.{match.group(2)}.{_OURS_BLOCK_PARTS[match.group(3)]}.{param}'
    match = _OURS_CONV_OUT_KEY.match(module)
    if match:
        return f'conv_outs.{int(match.group(1)) - 1}.{param}'
    match = _OURS_NORM_KEY.match(module)
    if match:
        return f'stage_bns.{int(match.group(1)) - 1}.{match.group(2)}.{param}'
    match = _OURS_RECURRENT_KEY.match(module)
    if match:
        return f'{recurrent_name}.{match.group(1)}.{param}'
    raise ValueError(f"key {key!r} is not part of an RLAMobileNetV2 the authors' code can build")


def to_official(state_dict: Mapping[str, torch.Tensor], arch: str) -> 'OrderedDict[str, torch.Tensor]':
    """The inverse of :func:`to_ours`: our backbone or classifier state dict -> the authors' layout.

    Accepts a bare ``RLAMobileNetV2`` state dict or an ``ImageClassifier``'s (``backbone.*``,
    ``head.fc.*``; other keys, e.g. a data preprocessor's, are ignored). Used to test the converter
    without the authors' code, and to hand weights trained here to their scripts.

    Raises:
        ValueError: ``arch`` unknown, a key their network does not have (e.g. of
            ``with_rla_output=False``), or per-stage recurrent convs that differ.
    """
    converted = _rename_to_official(state_dict, arch)
    check_shared_copies(converted, _recurrent_name(arch))
    return converted


def _rename_to_official(state_dict: Mapping[str, torch.Tensor], arch: str) -> 'OrderedDict[str, torch.Tensor]':
    recurrent_name = _recurrent_name(arch)
    has_prefix = any(k.startswith('backbone.') for k in state_dict)
    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for key, value in state_dict.items():
        if has_prefix:
            if key.startswith('backbone.'):
                key = key[len('backbone.') :]
            elif not key.startswith('head.fc.'):
                continue
        converted[_our_to_official_key(key, recurrent_name)] = value
    return converted
