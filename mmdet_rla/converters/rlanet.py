"""Convert checkpoints of the RLA-Net authors' ImageNet code into mmdet_rla layouts.

The authors' classification code (github ``joyfang1106/RLANet``, ``models/resnet_rla.py``) saves
``.pth.tar`` files holding ``{'epoch', 'state_dict', 'best_acc1', 'optimizer'}``; the state dict
carries a ``module.`` prefix when it was trained under (Distributed)DataParallel. Its layout and
the equivalent names of :class:`~mmdet_rla.models.RLAResNet` (stage ``s`` is ``layer{s+1}``)::

    official                             RLAResNet
    conv1, bn1                           conv1, bn1
    stages.{s}.{b}.{conv,bn}{1,2,3}      layer{s+1}.blocks.{b}.{conv,bn}{1,2,3}
    stages.{s}.{b}.downsample.{0,1}      layer{s+1}.blocks.{b}.downsample.{0,1}
    stages.{s}.{b}.eca.conv              layer{s+1}.blocks.{b}.attention.conv
    stages.{s}.{b}.se.fc.{0,2}           layer{s+1}.blocks.{b}.attention.fc.{0,2}
    conv_outs.{s}                        layer{s+1}.conv_out
    recurrent_convs.{s}                  layer{s+1}.recurrent_conv
    stage_bns.{s}.{b}                    layer{s+1}.norms.{b}
    bn2 (BN on the last h)               layer4.output_norm          (classifier only)
    fc                                   head.fc of an mmpretrain ImageClassifier

A *detection* backbone (``with_rla_output=False``) has neither the norm of the update after the
very last block (``stage_bns.3.{last}``: nothing reads that update) nor ``bn2``/``fc``; those
keys are dropped and listed in the result.

The authors' block hands ``y`` to the RLA path through an alias of the block output that the
in-place ``out += identity`` and in-place ReLU then overwrite, so the released weights were
trained with ``ReLU(y + identity)`` feeding ``conv_out``: converted weights must be used with
``RLAResNet(rla_input='output')``. The converter writes that into the checkpoint's ``meta``.

Loading uses ``torch.load(weights_only=True)``: a checkpoint that needs arbitrary unpickling
(custom classes, ``__reduce__`` calls) is refused with :class:`UnsafeCheckpointError` and never
executed.
"""
import os.path as osp
import pickle
import re
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

__all__ = [
    'UnsafeCheckpointError', 'load_weights_only', 'extract_state_dict', 'describe_official',
    'official_to_mmdet', 'mmdet_to_official', 'backbone_config', 'classifier_config',
    'convert_rlanet_checkpoint', 'DEPTH_BY_STAGE_BLOCKS'
]

# Blocks per stage of the authors' Bottleneck nets -> RLAResNet depth.
DEPTH_BY_STAGE_BLOCKS = {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}
# Sub-module names of an official block and of ours, where they differ.
_BLOCK_PARTS = ('conv1', 'bn1', 'conv2', 'bn2', 'conv3', 'bn3', 'downsample.0', 'downsample.1')
_OFFICIAL_ATTENTION = {'eca.conv': 'attention.conv', 'se.fc.0': 'attention.fc.0', 'se.fc.2': 'attention.fc.2'}
_OURS_ATTENTION = {ours: official for official, ours in _OFFICIAL_ATTENTION.items()}
_PARAM_SUFFIXES = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')

_STAGE_BLOCK_KEY = re.compile(r'^stages\.(\d+)\.(\d+)\.(.+)\.([a-z_]+)$')
_STAGE_KEY = re.compile(r'^(conv_outs|recurrent_convs)\.(\d+)\.([a-z_]+)$')
_STAGE_BN_KEY = re.compile(r'^stage_bns\.(\d+)\.(\d+)\.([a-z_]+)$')
_OURS_BLOCK_KEY = re.compile(r'^layer(\d+)\.blocks\.(\d+)\.(.+)\.([a-z_]+)$')
_OURS_STAGE_KEY = re.compile(r'^layer(\d+)\.(conv_out|recurrent_conv|output_norm)\.([a-z_]+)$')
_OURS_NORM_KEY = re.compile(r'^layer(\d+)\.norms\.(\d+)\.([a-z_]+)$')

RLA_INPUT_ADVICE = ("The authors' code feeds the block output ReLU(y + identity) to the RLA path "
                    "(an in-place alias of y), so use these weights with RLAResNet(rla_input='output').")


class UnsafeCheckpointError(ValueError):
    """The file needs arbitrary unpickling (custom classes or calls) and was not loaded."""


# --------------------------------------------------------------------------------- loading
def load_weights_only(path: str) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU, with a clear refusal for unsafe pickles.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError: the file pickles something other than tensors and plain
            containers (a custom class, an ``os.system``-style ``__reduce__``, ...). Nothing in
            it is executed.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {path}')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeCheckpointError(
            f'Refusing to load {path!r}: it cannot be read with torch.load(weights_only=True), '
            'because it pickles objects other than tensors and plain containers (a custom class '
            'or a function call), and unpickling those can run arbitrary code. The authors\' '
            "RLA-Net checkpoints hold only tensors and plain dicts, so this file is not one of "
            'them or was re-saved with extra objects. If you trust its origin, load it yourself '
            'and re-save only its state_dict (torch.save({"state_dict": sd}, path)). '
            f'torch said: {str(error).splitlines()[0]}') from None


def extract_state_dict(checkpoint: Any) -> 'OrderedDict[str, torch.Tensor]':
    """The tensor state dict of an official checkpoint, without any ``module.`` prefix.

    Accepts the authors' ``{'epoch', 'state_dict', 'best_acc1', 'optimizer'}`` dict, a dict with
    ``'model'`` or a bare state dict.
    """
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f'checkpoint must be a dict, got {type(checkpoint).__name__}')
    state_dict = checkpoint
    for key in ('state_dict', 'model'):
        if key in checkpoint and isinstance(checkpoint[key], Mapping):
            state_dict = checkpoint[key]
            break
    not_tensors = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if not state_dict or not_tensors:
        raise ValueError('checkpoint has no state dict of tensors (expected a "state_dict" entry '
                         f'or a dict of tensors); non-tensor entries: {not_tensors[:5]}')
    prefix = 'module.'
    if all(k.startswith(prefix) for k in state_dict):
        return OrderedDict((k[len(prefix):], v) for k, v in state_dict.items())
    return OrderedDict(state_dict)


# ---------------------------------------------------------------------------- architecture
def describe_official(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """Read the architecture of an official RLA-ResNet state dict.

    Returns:
        dict with ``depth``, ``stage_blocks``, ``rla_channels``, ``channel_attention``
        (``None``/``'eca'``/``'se'``), ``eca_kernel_sizes``, ``se_reduction`` and ``num_classes``
        (``None`` without ``fc``).

    Raises:
        ValueError: not an RLA-ResNet of the authors' ``resnet_rla.py`` (e.g. MobileNetV2 or
            ResNeXt checkpoints) or an unsupported depth.
    """
    blocks: Dict[int, int] = {}
    for key in state_dict:
        match = re.match(r'^stages\.(\d+)\.(\d+)\.', key)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            blocks[stage] = max(blocks.get(stage, 0), block + 1)
    if not blocks or 'conv_outs.0.weight' not in state_dict:
        raise ValueError('not an RLA-ResNet checkpoint of the authors\' resnet_rla.py: no '
                         '"stages.*" / "conv_outs.*" keys (RLA-MobileNetV2 files are not supported)')
    stage_blocks = tuple(blocks[s] for s in sorted(blocks))
    if 'stages.0.0.conv3.weight' not in state_dict:
        raise ValueError('only Bottleneck RLA-ResNets exist in the authors\' code; this state dict '
                         'has no "stages.0.0.conv3"')
    if stage_blocks not in DEPTH_BY_STAGE_BLOCKS:
        raise ValueError(f'blocks per stage {stage_blocks} match no supported depth; allowed: '
                         f'{ {v: k for k, v in DEPTH_BY_STAGE_BLOCKS.items()} }')
    conv2 = state_dict['stages.0.0.conv2.weight']
    if conv2.shape[1] != conv2.shape[0]:
        raise ValueError('grouped 3x3 convolutions (RLA-ResNeXt) are not supported by RLAResNet; '
                         f'stages.0.0.conv2.weight has shape {tuple(conv2.shape)}')
    rla_channels = int(state_dict['conv_outs.0.weight'].shape[0])
    eca_sizes = []
    for s, n in enumerate(stage_blocks):
        key = f'stages.{s}.0.eca.conv.weight'
        if key in state_dict:
            eca_sizes.append(int(state_dict[key].shape[-1]))
    channel_attention: Optional[str] = None
    se_reduction = 16
    if eca_sizes:
        if len(eca_sizes) != len(stage_blocks):
            raise ValueError('ECA weights found in some stages only; RLAResNet puts ECA in every stage')
        channel_attention = 'eca'
    elif 'stages.0.0.se.fc.0.weight' in state_dict:
        hidden, channels = state_dict['stages.0.0.se.fc.0.weight'].shape
        channel_attention, se_reduction = 'se', int(channels // hidden)
    num_classes = int(state_dict['fc.weight'].shape[0]) if 'fc.weight' in state_dict else None
    return dict(
        depth=DEPTH_BY_STAGE_BLOCKS[stage_blocks],
        stage_blocks=stage_blocks,
        rla_channels=rla_channels,
        channel_attention=channel_attention,
        eca_kernel_sizes=tuple(eca_sizes) if eca_sizes else None,
        se_reduction=se_reduction,
        num_classes=num_classes)


def backbone_config(arch: Mapping[str, Any], *, classifier: bool = False) -> Dict[str, Any]:
    """The ``RLAResNet`` config that takes converted weights of architecture ``arch``."""
    cfg: Dict[str, Any] = dict(type='RLAResNet', depth=arch['depth'], rla_channels=arch['rla_channels'])
    if arch['channel_attention'] == 'eca':
        cfg.update(channel_attention='eca', eca_kernel_sizes=tuple(arch['eca_kernel_sizes']))
    elif arch['channel_attention'] == 'se':
        cfg.update(channel_attention='se', se_reduction=arch['se_reduction'])
    cfg['rla_input'] = 'output'
    if classifier:
        cfg.update(with_rla_output=True, out_indices=(len(arch['stage_blocks']) - 1, ))
    return cfg


def classifier_config(arch: Mapping[str, Any]) -> Dict[str, Any]:
    """The mmpretrain ``ImageClassifier`` config that takes a ``--cls`` conversion of ``arch``."""
    feat_dim = 2048 + arch['rla_channels']  # Bottleneck nets: 512 * 4 channels + the RLA state
    return dict(
        type='ImageClassifier',
        backbone=backbone_config(arch, classifier=True),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=arch['num_classes'], in_channels=feat_dim))


# ---------------------------------------------------------------------------- key mapping
def _split_param(key: str) -> Tuple[str, str]:
    module, _, param = key.rpartition('.')
    return module, param


def official_to_mmdet(state_dict: Mapping[str, torch.Tensor], *, classifier: bool = False
                      ) -> Tuple['OrderedDict[str, torch.Tensor]', List[str], Dict[str, Any]]:
    """Rename an official state dict (no ``module.`` prefix) to RLAResNet's layout.

    Args:
        state_dict: The official state dict.
        classifier: ``False``: backbone keys for a detection RLAResNet (no prefix); the norm of
            the last update, ``bn2`` and ``fc`` are dropped. ``True``: an mmpretrain
            ImageClassifier state dict (``backbone.*``, ``head.fc.*``) for a backbone with
            ``with_rla_output=True``.

    Returns:
        ``(converted, dropped_keys, arch)``.

    Raises:
        ValueError: unknown keys (listed), or ``classifier=True`` without ``fc``/``bn2``.
    """
    arch = describe_official(state_dict)
    last_stage = len(arch['stage_blocks']) - 1
    last_block = arch['stage_blocks'][-1] - 1
    if classifier and (arch['num_classes'] is None or 'bn2.weight' not in state_dict):
        raise ValueError('--cls needs the classifier parts "fc" and "bn2", which this state dict lacks')
    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    dropped: List[str] = []
    unknown: List[str] = []
    backbone_prefix = 'backbone.' if classifier else ''
    for key, value in state_dict.items():
        new_key = _official_key_to_ours(key, last_stage, last_block, classifier)
        if new_key is None:
            dropped.append(key)
        elif new_key == '':
            unknown.append(key)
        else:
            prefix = '' if new_key.startswith('head.') else backbone_prefix
            converted[prefix + new_key] = value
    if unknown:
        raise ValueError(f'{len(unknown)} keys match no part of RLAResNet, e.g. {unknown[:8]}')
    return converted, dropped, arch


def _official_key_to_ours(key: str, last_stage: int, last_block: int, classifier: bool) -> Optional[str]:
    """Our name of ``key``; ``None`` to drop it, ``''`` when it is unknown."""
    module, param = _split_param(key)
    if param not in _PARAM_SUFFIXES:
        return ''
    if module in ('conv1', 'bn1'):
        return key
    if module == 'bn2':
        return f'layer{last_stage + 1}.output_norm.{param}' if classifier else None
    if module == 'fc':
        return f'head.fc.{param}' if classifier else None
    match = _STAGE_BLOCK_KEY.match(key)
    if match:
        stage, block, part = int(match.group(1)), match.group(2), match.group(3)
        if part in _OFFICIAL_ATTENTION:
            part = _OFFICIAL_ATTENTION[part]
        elif part not in _BLOCK_PARTS:
            return ''
        return f'layer{stage + 1}.blocks.{block}.{part}.{param}'
    match = _STAGE_KEY.match(key)
    if match:
        name = 'conv_out' if match.group(1) == 'conv_outs' else 'recurrent_conv'
        return f'layer{int(match.group(2)) + 1}.{name}.{param}'
    match = _STAGE_BN_KEY.match(key)
    if match:
        stage, block = int(match.group(1)), int(match.group(2))
        if not classifier and stage == last_stage and block == last_block:
            return None  # the update after the last block: nothing reads it in a detector
        return f'layer{stage + 1}.norms.{block}.{param}'
    return ''


def mmdet_to_official(state_dict: Mapping[str, torch.Tensor], *, module_prefix: bool = False
                      ) -> 'OrderedDict[str, torch.Tensor]':
    """The inverse renaming: RLAResNet / ImageClassifier keys -> the authors' layout.

    Accepts a bare RLAResNet state dict or a classifier's (``backbone.*``, ``head.fc.*``; other
    keys such as a data preprocessor's are ignored). Used to test the converter without the
    authors' code, and to hand weights trained here to the authors' scripts.

    Args:
        state_dict: The state dict to rename.
        module_prefix: Prefix every key with ``module.``, as a DataParallel-trained file has.
    """
    keys = list(state_dict)
    has_backbone_prefix = any(k.startswith('backbone.') for k in keys)
    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('head.fc.'):
            new_key = 'fc.' + key[len('head.fc.'):]
        elif has_backbone_prefix and not key.startswith('backbone.'):
            continue
        else:
            new_key = _our_key_to_official(key[len('backbone.'):] if has_backbone_prefix else key)
        converted[('module.' if module_prefix else '') + new_key] = value
    return converted


def _our_key_to_official(key: str) -> str:
    module, param = _split_param(key)
    if module in ('conv1', 'bn1'):
        return key
    match = _OURS_BLOCK_KEY.match(key)
    if match:
        stage, block, part = int(match.group(1)) - 1, match.group(2), match.group(3)
        part = _OURS_ATTENTION.get(part, part)
        return f'stages.{stage}.{block}.{part}.{param}'
    match = _OURS_STAGE_KEY.match(key)
    if match:
        stage, name = int(match.group(1)) - 1, match.group(2)
        if name == 'output_norm':
            return f'bn2.{param}'
        plural = 'conv_outs' if name == 'conv_out' else 'recurrent_convs'
        return f'{plural}.{stage}.{param}'
    match = _OURS_NORM_KEY.match(key)
    if match:
        return f'stage_bns.{int(match.group(1)) - 1}.{match.group(2)}.{param}'
    raise ValueError(f'key {key!r} is not part of an RLAResNet')


# ------------------------------------------------------------------------------ the tool
def convert_rlanet_checkpoint(src: str, dst: str, *, classifier: bool = False) -> Dict[str, Any]:
    """Convert the authors' checkpoint ``src`` and save the result to ``dst``.

    ``dst`` holds ``{'state_dict': ..., 'meta': ...}``, loadable with ``weights_only=True``
    (so also by mmengine's ``load_checkpoint`` / ``init_cfg=dict(type='Pretrained')``). ``meta``
    records the source, the config to use (``backbone`` or ``model``), the dropped keys and the
    ``rla_input='output'`` advice.

    Returns:
        The ``meta`` dict (also written into the file).
    """
    state_dict = extract_state_dict(load_weights_only(src))
    converted, dropped, arch = official_to_mmdet(state_dict, classifier=classifier)
    meta: Dict[str, Any] = dict(
        source=osp.basename(src),
        converter='mmdet_rla.converters.rlanet',
        layout='mmpretrain ImageClassifier' if classifier else 'RLAResNet backbone (detection)',
        arch={k: (list(v) if isinstance(v, tuple) else v) for k, v in arch.items()},
        dropped_keys=dropped,
        rla_input='output',
        note=RLA_INPUT_ADVICE)
    if classifier:
        meta['model'] = classifier_config(arch)
    else:
        meta['backbone'] = backbone_config(arch)
    out_dir = osp.dirname(osp.abspath(dst))
    if not osp.isdir(out_dir):
        raise FileNotFoundError(f'output directory does not exist: {out_dir}')
    torch.save(dict(state_dict=converted, meta=meta), dst)
    return meta
