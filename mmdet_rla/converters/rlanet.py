"""Convert checkpoints of the RLA-Net authors' code (github ``joyfang1106/RLANet``) into mmdet_rla layouts.

The authors release ImageNet classifiers (``.pth.tar`` files holding ``{'epoch', 'state_dict',
'best_acc1', 'optimizer'}``; the state dict carries a ``module.`` prefix when trained under
(Distributed)DataParallel) and mmdet 2.x COCO detectors (``{'meta', 'state_dict'}`` with
``backbone.*``, ``neck.*`` and head keys). This module is the dispatcher of
``tools/model_converters/rlanet2mmdet.py``: each architecture family of the release is one module
in :mod:`mmdet_rla.converters` listed in :data:`FAMILY_MODULES`, with this interface:

- ``FACTORIES``: the authors' factory names it converts (``'rla_resnet50'``, ...) -> facts;
- ``candidate_archs(state_dict)``: the factories whose key layout and shapes fit ``state_dict``;
- ``to_ours(state_dict, arch, *, classifier)`` -> ``(converted, dropped_keys)``: a detection
  backbone's bare keys, or an mmpretrain ImageClassifier's (``backbone.*``, ``head.fc.*``);
- ``to_official(state_dict, arch)``: the inverse (tests build official layouts with it);
- ``model_config(arch, *, classifier, num_classes=None)``: the config those weights load into.

The factory is ``--arch`` when given, else inferred from the keys: the single candidate, or the
candidate a family marks ``preferred`` (the released design, e.g. ``rla_resnet50``, whose layout
its Table 6 ablations v1-v6 share; those need ``--arch``), else an error listing the candidates.

Detector checkpoints (:mod:`mmdet_rla.converters.rlanet_detector`) keep their neck and head keys,
which mmdet 3.x names as 2.x did, get their backbone renamed, and are checked to load strictly
into the matching config of ``configs/rla/``.

Loading uses ``torch.load(weights_only=True)``: a checkpoint that needs arbitrary unpickling
(custom classes, ``__reduce__`` calls) is refused with :class:`UnsafeCheckpointError` and never
executed.
"""

import os
import os.path as osp
import pickle
from collections import OrderedDict
from types import ModuleType
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

from . import rlanet_mobilenetv2, rlanet_resnet

__all__ = [
    'FAMILY_MODULES',
    'UnsafeCheckpointError',
    'load_weights_only',
    'extract_state_dict',
    'factory_names',
    'candidate_archs',
    'resolve_arch',
    'convert_state_dict',
    'official_to_mmdet',
    'mmdet_to_official',
    'convert_rlanet_checkpoint',
]

# One module per architecture family of the authors' release (see the module docstring).
FAMILY_MODULES: Tuple[ModuleType, ...] = (
    rlanet_resnet,
    rlanet_mobilenetv2,
)

RLA_INPUT_ADVICE = (
    "The authors' code feeds the block output ReLU(y + identity) to the RLA path "
    "(an in-place alias of y), so use these weights with rla_input='output' "
    "(as meta['model'] does)."
)


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
            "or a function call), and unpickling those can run arbitrary code. The authors' "
            'RLA-Net checkpoints hold only tensors and plain dicts, so this file is not one of '
            'them or was re-saved with extra objects. If you trust its origin, load it yourself '
            'and re-save only its state_dict (torch.save({"state_dict": sd}, path)). '
            f'torch said: {str(error).splitlines()[0]}'
        ) from None


def extract_state_dict(checkpoint: Any) -> 'OrderedDict[str, torch.Tensor]':
    """The tensor state dict of an official checkpoint, without any ``module.`` prefix.

    Accepts the authors' ``{'epoch', 'state_dict', 'best_acc1', 'optimizer'}`` dict, an mmdet
    ``{'meta', 'state_dict'}`` dict, a dict with ``'model'`` or a bare state dict.
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
        raise ValueError(
            'checkpoint has no state dict of tensors (expected a "state_dict" entry '
            f'or a dict of tensors); non-tensor entries: {not_tensors[:5]}'
        )
    prefix = 'module.'
    if all(k.startswith(prefix) for k in state_dict):
        return OrderedDict((k[len(prefix) :], v) for k, v in state_dict.items())
    return OrderedDict(state_dict)


# ----------------------------------------------------------------------------- dispatching
def factory_names() -> List[str]:
    """Every factory name ``--arch`` accepts, over all family modules."""
    return sorted(name for module in FAMILY_MODULES for name in module.FACTORIES)


def family_of(arch: str) -> ModuleType:
    """The family module that converts ``arch``."""
    for module in FAMILY_MODULES:
        if arch in module.FACTORIES:
            return module
    raise ValueError(f'--arch must be one of {factory_names()}, got {arch!r}')


def candidate_archs(state_dict: Mapping[str, torch.Tensor]) -> List[str]:
    """The factories of every family whose key layout and shapes fit ``state_dict``."""
    return [arch for module in FAMILY_MODULES for arch in module.candidate_archs(state_dict)]


def resolve_arch(state_dict: Mapping[str, torch.Tensor], arch: Optional[str] = None) -> Tuple[str, List[str]]:
    """The factory to convert ``state_dict`` as, and the other factories its layout also fits.

    Raises:
        ValueError: ``arch`` unknown or not fitting the keys; no factory fits; several fit and
            none is preferred (``--arch`` needed; the message lists them).
    """
    candidates = candidate_archs(state_dict)
    if arch is not None:
        # A second name of another factory (the authors' `dsrla_mobilenetv2` builds `_k32`) fits where that does.
        canonical = family_of(arch).FACTORIES[arch].get('alias_of', arch)
        if canonical not in candidates:
            fitting = f'the factories that fit: {candidates}' if candidates else 'no factory fits them'
            raise ValueError(f'--arch {arch} does not fit the keys and shapes of this state dict ({fitting})')
        return arch, [c for c in candidates if c != canonical]
    if not candidates:
        reasons = [
            r for r in (getattr(m, 'describe_mismatch', lambda sd: None)(state_dict) for m in FAMILY_MODULES) if r
        ]
        raise ValueError(
            "this state dict fits no factory of the RLA-Net authors' code ("
            + ('; '.join(reasons) if reasons else f'looked for {factory_names()}; is it one of their checkpoints?')
            + ')'
        )
    if len(candidates) == 1:
        return candidates[0], []
    preferred = [c for c in candidates if family_of(c).FACTORIES[c].get('preferred')]
    if len(preferred) == 1:
        return preferred[0], [c for c in candidates if c != preferred[0]]
    raise ValueError(
        f"this key layout fits several of the authors' factories: {candidates}. They share "
        'one key layout (e.g. the Table 6 ablations v2-v6), so the keys cannot tell them '
        'apart: pass --arch NAME with the factory the checkpoint was trained with.'
    )


def convert_state_dict(
    state_dict: Mapping[str, torch.Tensor], *, classifier: bool = False, arch: Optional[str] = None
) -> Tuple['OrderedDict[str, torch.Tensor]', List[str], str, Dict[str, Any], List[str]]:
    """Convert an official classifier / backbone state dict (no ``module.`` prefix).

    Returns:
        ``(converted, dropped_keys, arch, model_config, other_candidates)``; ``model_config`` is
        the backbone config (``classifier=False``) or the ImageClassifier config that
        ``converted`` loads into strictly.
    """
    arch, others = resolve_arch(state_dict, arch)
    family = family_of(arch)
    converted, dropped = family.to_ours(state_dict, arch, classifier=classifier)
    # Every family's classifier layout ends in mmpretrain's head.fc: its rows are the classes.
    num_classes = int(converted['head.fc.weight'].shape[0]) if 'head.fc.weight' in converted else None
    model = family.model_config(arch, classifier=classifier, num_classes=num_classes)
    return converted, dropped, arch, model, others


# The functions of the first converter (RLA-ResNet only), kept for scripts that use them.
def official_to_mmdet(
    state_dict: Mapping[str, torch.Tensor], *, classifier: bool = False, arch: Optional[str] = None
) -> Tuple['OrderedDict[str, torch.Tensor]', List[str], str]:
    """Rename an official state dict (no ``module.`` prefix) to ours: ``(converted, dropped, arch)``."""
    converted, dropped, arch, _, _ = convert_state_dict(state_dict, classifier=classifier, arch=arch)
    return converted, dropped, arch


def mmdet_to_official(
    state_dict: Mapping[str, torch.Tensor], *, module_prefix: bool = False, arch: str = 'rla_resnet50'
) -> 'OrderedDict[str, torch.Tensor]':
    """Our backbone or classifier state dict -> the authors' layout of ``arch``.

    The renaming depends only on the RLA design of ``arch`` (not its depth): the default fits
    every RLA-ResNet / RLA-ResNeXt with the proposed module. ``module_prefix`` prefixes every key
    with ``module.``, as a DataParallel-trained file has.
    """
    official = family_of(arch).to_official(state_dict, arch)
    prefix = 'module.' if module_prefix else ''
    return OrderedDict((prefix + k, v) for k, v in official.items())


# ------------------------------------------------------------------------------ the tool
def convert_rlanet_checkpoint(
    src: str, dst: str, *, classifier: bool = False, arch: Optional[str] = None
) -> Dict[str, Any]:
    """Convert the authors' checkpoint ``src`` and save the result to ``dst``.

    ``dst`` (its folder is created if needed) holds ``{'state_dict': ..., 'meta': ...}``, loadable
    with ``weights_only=True`` (so also by mmengine's ``load_checkpoint`` /
    ``init_cfg=dict(type='Pretrained')``).
    ``meta['model']`` is the config ``state_dict`` loads into strictly (a detection backbone, an
    ImageClassifier with ``classifier=True``, or for an mmdet 2.x detector checkpoint our
    detector of ``configs/rla/``, also named in ``meta['config']``); ``meta['arch']`` the
    authors' factory name.

    Returns:
        The ``meta`` dict (also written into the file).
    """
    from . import rlanet_detector

    checkpoint = load_weights_only(src)
    state_dict = extract_state_dict(checkpoint)
    if rlanet_detector.is_detector(state_dict):
        if classifier:
            raise ValueError(
                '--cls converts ImageNet classifiers; this is a detector checkpoint (it has backbone.* and head keys)'
            )
        converted, meta = rlanet_detector.convert_detector(state_dict, checkpoint.get('meta'), arch=arch)
    else:
        converted, dropped, arch, model, others = convert_state_dict(state_dict, classifier=classifier, arch=arch)
        meta = dict(
            arch=arch,
            layout='mmpretrain ImageClassifier' if classifier else 'backbone (detection)',
            model=model,
            dropped_keys=dropped,
            same_layout_as=others,
        )
        if not classifier:
            meta['backbone'] = model
        if model.get('backbone', model).get('rla_input') == 'output':
            meta['note'] = RLA_INPUT_ADVICE
    meta.update(source=osp.basename(src), converter='mmdet_rla.converters.rlanet')
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)  # e.g. checkpoints/ of a fresh clone
    torch.save(dict(state_dict=converted, meta=meta), dst)
    return meta
