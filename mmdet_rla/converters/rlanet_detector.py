"""The RLA-Net authors' mmdet 2.x COCO detectors -> our detectors of ``configs/rla/`` (mmdet 3.x).

The authors trained Faster R-CNN, RetinaNet and Mask R-CNN with RLA-ResNet-50/101 and their ECA
variants in mmdet 2.x (their ``mmdetection/resnet_rla.py`` backbone with mmdet's stock FPN and
heads) and released twelve checkpoints (:data:`RELEASED`). Only the backbone names differ in
mmdet 3.x: the FPN (``lateral_convs``, ``fpn_convs``), ``RPNHead`` (``rpn_conv``, ``rpn_cls``,
``rpn_reg``), ``StandardRoIHead`` with ``Shared2FCBBoxHead`` (``shared_fcs``, ``fc_cls``,
``fc_reg``) and ``FCNMaskHead`` (``convs``, ``upsample``, ``conv_logits``), and ``RetinaHead``
(``cls_convs``, ``reg_convs``, ``retina_cls``, ``retina_reg``) keep their 2.x names and shapes
(mmdet 3.x's own model zoo still serves its 2.x checkpoints for these detectors). So the
backbone keys are renamed as for the ImageNet checkpoints (the authors' detection backbone also
saves ``stage_bns.3.{last}``, the norm of an update nothing reads, which is dropped), every other
key is kept, and the result is checked, key by key and shape by shape, against the detector of
the matching config built on the ``meta`` device: it loads strictly.
"""

import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from ..config_paths import MIM_DIR

# Config paths are relative to the source tree's top, where configs/ is; the package keeps the same
# tree under MIM_DIR (mmdet_rla/.mim/configs), in a checkout and installed alike.
CONFIG_DIR = osp.join('configs', 'rla')

# detector -> (a key only it has, the prefixes of its non-backbone parts). Mask R-CNN first: it
# also has Faster R-CNN's keys.
DETECTORS = OrderedDict(
    [
        ('mask-rcnn', ('roi_head.mask_head.conv_logits.weight', ('neck.', 'rpn_head.', 'roi_head.'))),
        ('faster-rcnn', ('roi_head.bbox_head.fc_cls.weight', ('neck.', 'rpn_head.', 'roi_head.'))),
        ('retinanet', ('bbox_head.retina_cls.weight', ('neck.', 'bbox_head.'))),
    ]
)
# The authors' factory of a detector's backbone -> the backbone part of our config names.
BACKBONE_NAMES = {
    'rla_resnet50': 'rla-r50',
    'rla_resnet50_eca': 'rla-eca-r50',
    'rla_resnet101': 'rla-r101',
    'rla_resnet101_eca': 'rla-eca-r101',
    'rla_resnext101_32x4d': 'rla-x101-32x4d',
}
# The twelve released checkpoints (authors' README, "COCO 2017"): file name -> our config and the
# COCO val2017 AP they report (README box AP; mask AP from the paper's Table 5).
RELEASED: Dict[str, Tuple[str, Dict[str, float]]] = {
    'faster_rcnn_r50rla_fpn_1x_coco_388': ('faster-rcnn_rla-r50_fpn_1x_coco.py', dict(bbox=38.8)),
    'faster_rcnn_r50rlaeca_fpn_1x_coco_398': ('faster-rcnn_rla-eca-r50_fpn_1x_coco.py', dict(bbox=39.8)),
    'faster_rcnn_r101rla_fpn_1x_coco_412': ('faster-rcnn_rla-r101_fpn_1x_coco.py', dict(bbox=41.2)),
    'faster_rcnn_r101rlaeca_fpn_1x_coco_421': ('faster-rcnn_rla-eca-r101_fpn_1x_coco.py', dict(bbox=42.1)),
    'retinanet_r50rla_fpn_1x_coco_379': ('retinanet_rla-r50_fpn_1x_coco.py', dict(bbox=37.9)),
    'retinanet_r50rlaeca_fpn_1x_coco_390': ('retinanet_rla-eca-r50_fpn_1x_coco.py', dict(bbox=39.0)),
    'retinanet_r101rla_fpn_1x_coco_403': ('retinanet_rla-r101_fpn_1x_coco.py', dict(bbox=40.3)),
    'retinanet_r101rlaeca_fpn_1x_coco_415': ('retinanet_rla-eca-r101_fpn_1x_coco.py', dict(bbox=41.5)),
    'mask_rcnn_r50rla_fpn_1x_coco_395': ('mask-rcnn_rla-r50_fpn_1x_coco.py', dict(bbox=39.5, segm=35.6)),
    'mask_rcnn_r50rlaeca_fpn_1x_coco_406': ('mask-rcnn_rla-eca-r50_fpn_1x_coco.py', dict(bbox=40.6, segm=36.5)),
    'mask_rcnn_r101rla_fpn_1x_coco_418': ('mask-rcnn_rla-r101_fpn_1x_coco.py', dict(bbox=41.8, segm=37.3)),
    'mask_rcnn_r101rlaeca_fpn_1x_coco_429': ('mask-rcnn_rla-eca-r101_fpn_1x_coco.py', dict(bbox=42.9, segm=38.1)),
}
_HEAD_PREFIXES = ('rpn_head.', 'roi_head.', 'bbox_head.')


def is_detector(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether ``state_dict`` is a whole detector (``backbone.*`` plus detection-head keys)."""
    return any(k.startswith('backbone.') for k in state_dict) and any(k.startswith(_HEAD_PREFIXES) for k in state_dict)


def detector_kind(state_dict: Mapping[str, torch.Tensor]) -> str:
    """``'faster-rcnn'``, ``'retinanet'`` or ``'mask-rcnn'``, read from the head keys."""
    for kind, (marker, _) in DETECTORS.items():
        if marker in state_dict:
            return kind
    raise ValueError(
        'a detector checkpoint, but not one of Faster R-CNN, RetinaNet or Mask R-CNN: none of '
        f'{[marker for marker, _ in DETECTORS.values()]} is in it'
    )


def config_path(kind: str, arch: str) -> str:
    """Our config (relative to the source tree's top) for detector ``kind`` with backbone ``arch``."""
    if arch not in BACKBONE_NAMES:
        raise ValueError(
            f'configs/rla has no detector with the backbone {arch!r}; the backbone must be one of '
            f'{sorted(BACKBONE_NAMES)}'
        )
    return osp.join(CONFIG_DIR, f'{kind}_{BACKBONE_NAMES[arch]}_fpn_1x_coco.py')


def detector_config(path: str) -> Dict[str, Any]:
    """The ``model`` dict of our config ``path`` (relative to the source tree's top), without the
    backbone's ImageNet ``init_cfg`` (the converted checkpoint holds every weight). A plain dict, so
    that the checkpoint loads with ``weights_only=True``; build it as ``MODELS.build(ConfigDict(...))``."""
    from mmengine.config import Config

    cfg = Config.fromfile(osp.join(MIM_DIR, path))
    cfg.model.backbone.init_cfg = None
    return cfg.model.to_dict()


def check_loads_strictly(model_cfg: Dict[str, Any], state_dict: Mapping[str, torch.Tensor], path: str) -> None:
    """Build ``model_cfg`` on the meta device and compare keys and shapes with ``state_dict``."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import ConfigDict

    import mmdet_rla  # noqa: F401  (registers the backbones)

    register_all_modules(init_default_scope=False)
    with torch.device('meta'):
        # mmdet's detectors read their train/test settings as attributes: a ConfigDict, not a plain dict.
        expected = {k: v.shape for k, v in MODELS.build(ConfigDict(model_cfg)).state_dict().items()}
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = [
        f'{k}: {tuple(v.shape)} vs {tuple(expected[k])}'
        for k, v in state_dict.items()
        if k in expected and v.shape != expected[k]
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f'the converted detector does not load strictly into {path}: missing {missing[:8]}, '
            f'unexpected {unexpected[:8]}, shapes {wrong[:8]}'
        )


def convert_detector(
    state_dict: Mapping[str, torch.Tensor], source_meta: Optional[Mapping[str, Any]] = None, arch: Optional[str] = None
) -> Tuple['OrderedDict[str, torch.Tensor]', Dict[str, Any]]:
    """Convert an mmdet 2.x detector state dict of the authors; returns ``(state_dict, meta)``.

    ``meta`` names the detector, the backbone's factory (``arch``), our config (``config``) and its
    ``model`` dict, the dropped keys and, from the 2.x ``meta``, the class names as mmdet 3.x's
    ``dataset_meta``.

    Raises:
        ValueError: not one of the three detectors; keys of other parts; a backbone that fits no
            (or several) factories; no matching config; a result that would not load strictly.
    """
    from .rlanet import convert_state_dict

    kind = detector_kind(state_dict)
    head_prefixes = DETECTORS[kind][1]
    backbone = OrderedDict((k[len('backbone.') :], v) for k, v in state_dict.items() if k.startswith('backbone.'))
    others = [k for k in state_dict if not k.startswith('backbone.')]
    strangers = [k for k in others if not k.startswith(head_prefixes)]
    if strangers:
        raise ValueError(
            f'{len(strangers)} keys of this {kind} checkpoint belong to no part of an mmdet '
            f'{kind} (backbone, {", ".join(head_prefixes)}), e.g. {strangers[:8]}'
        )
    converted_backbone, dropped, arch, _, _ = convert_state_dict(backbone, arch=arch)
    converted: 'OrderedDict[str, torch.Tensor]' = OrderedDict(
        ('backbone.' + k, v) for k, v in converted_backbone.items()
    )
    converted.update((k, state_dict[k]) for k in others)
    path = config_path(kind, arch)
    meta: Dict[str, Any] = dict(
        arch=arch,
        detector=kind,
        config=path,
        layout=f'mmdet 3.x {kind} ({path})',
        dropped_keys=['backbone.' + k for k in dropped],
    )
    if osp.isfile(osp.join(MIM_DIR, path)):  # the package's configs (an install without them: no check)
        meta['model'] = detector_config(path)
        check_loads_strictly(meta['model'], converted, path)
    source_meta = source_meta if isinstance(source_meta, Mapping) else {}
    if source_meta.get('CLASSES'):
        meta['dataset_meta'] = dict(classes=list(source_meta['CLASSES']))
    if source_meta.get('mmdet_version'):
        meta['source_mmdet_version'] = str(source_meta['mmdet_version'])
    return converted, meta
