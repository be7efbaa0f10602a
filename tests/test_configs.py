"""Every detection config trains and freezes its norms as mmdet's own configs do, and every config is covered.

mmdet's convention: a ResNet detector that starts from ImageNet weights freezes the stem and the first stage and
keeps every backbone BatchNorm in eval mode (``frozen_stages=1``, ``norm_eval=True``); one that trains from scratch
trains everything; mmdet's MobileNetV2 detectors (SSDLite, YOLOv3) train their norms either way. The classification
configs follow mmpretrain's (every norm trains): ``tests/test_classification.py`` asserts that for each of them,
with a training step that must move every running statistic.
"""

import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from torch.nn.modules.batchnorm import _BatchNorm, _NormBase

from mmdet_rla.models.weight_init import RESNET_BLOCK_PARTS, checkpoint_init_kind

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ALL_CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True))
CLS_CONFIGS = [p for p in ALL_CONFIGS if osp.join('configs', 'classification') in p]
DET_CONFIGS = [p for p in ALL_CONFIGS if p not in CLS_CONFIGS]
NORMS = (_NormBase, torch.nn.GroupNorm, torch.nn.LayerNorm)


def test_every_config_is_checked():
    """Detection configs here, classification configs in test_classification (same file list)."""
    from test_classification import CLS_CONFIGS as CHECKED_THERE

    assert sorted(CHECKED_THERE) == CLS_CONFIGS
    assert len(DET_CONFIGS) >= 40 and all(
        Config.fromfile(p).get('default_scope', 'mmdet') == 'mmdet' for p in DET_CONFIGS[:3]
    )


def norm_rule(backbone: dict) -> str:
    """``'finetune'`` (frozen stem and first stage, BN statistics frozen) or ``'train'`` (everything trains)."""
    if backbone['type'] in ('MobileNetV2', 'RLAMobileNetV2'):
        return 'train'  # mmdet's ssdlite_mobilenetv2 / yolov3_mobilenetv2 configs: norm_eval=False, nothing frozen
    return 'finetune' if any(checkpoint_init_kind(c) for c in _as_list(backbone.get('init_cfg'))) else 'train'


def _as_list(cfg):
    return [] if cfg is None else list(cfg) if isinstance(cfg, (list, tuple)) else [cfg]


@pytest.mark.parametrize('path', DET_CONFIGS, ids=lambda p: osp.relpath(p, osp.join(REPO, 'configs')))
def test_detection_config_norms_follow_mmdet(path):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules(init_default_scope=False)

    cfg = Config.fromfile(path)
    backbone_cfg = cfg.model.backbone
    rule = norm_rule(backbone_cfg)
    if rule == 'finetune':  # the values of mmdet's R-50 configs, written in the config
        assert backbone_cfg.frozen_stages == 1 and backbone_cfg.norm_eval is True
    model = MODELS.build(cfg.model)  # built, not initialised: no checkpoint is read
    model.train()
    backbone = model.backbone
    in_backbone = {id(m) for m in backbone.modules()}
    for name, module in model.named_modules():
        if isinstance(module, NORMS) and id(module) not in in_backbone:
            assert module.training, f'{name}: the neck and heads train their norms'
    norms = {name: m for name, m in backbone.named_modules() if isinstance(m, NORMS)}
    params = dict(backbone.named_parameters())
    if rule == 'train':
        assert [n for n, m in norms.items() if not m.training] == []
        assert [n for n, p in params.items() if not p.requires_grad] == []
        return
    assert [n for n, m in norms.items() if isinstance(m, _BatchNorm) and m.training] == []
    frozen = {n for n, p in params.items() if not p.requires_grad}
    stem = {n for n in params if n.split('.')[0] in ('conv1', 'bn1', 'stem')}
    first_stage = {n for n in params if n.startswith('layer1.')}
    first_trunk = {n for n in first_stage if _is_trunk(n)}
    assert stem <= frozen and first_trunk <= frozen
    expected_frozen = stem | (first_trunk if backbone.freeze_added_parts is False else first_stage)
    assert frozen == expected_frozen  # later stages, and new first-stage parts a checkpoint did not train, train


def _is_trunk(name: str) -> bool:
    """``layer1.0.conv1.weight`` / ``layer1.blocks.0.bn1.bias``: a ResNet block's own conv, norm or downsample."""
    parts = name.split('.')
    index = 3 if parts[1] == 'blocks' else 2
    return parts[index - 1].isdigit() and parts[index] in RESNET_BLOCK_PARTS
