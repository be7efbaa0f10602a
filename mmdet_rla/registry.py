"""Registration of mmdet_rla models into the OpenMMLab registries that build them.

mmdet configs build backbones from ``mmdet.registry.MODELS`` and mmpretrain configs from
``mmpretrain.registry.MODELS``. Both are children of mmengine's root registry, and a lookup never
searches sibling registries, so every backbone is registered in each that is installed.
"""

from typing import TypeVar

from mmdet.registry import MODELS as MMDET_MODELS

try:  # mmpretrain is optional: only the classification configs need it.
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
except ImportError:  # pragma: no cover - exercised only without mmpretrain
    MMPRETRAIN_MODELS = None

ModuleT = TypeVar('ModuleT', bound=type)


def register_model(cls: ModuleT) -> ModuleT:
    """Register ``cls`` under its class name in mmdet's and (if installed) mmpretrain's MODELS."""
    MMDET_MODELS.register_module(module=cls)
    if MMPRETRAIN_MODELS is not None:
        MMPRETRAIN_MODELS.register_module(module=cls)
    return cls


def build_model(cfg: dict):
    """Build a model from ``cfg`` through mmdet's registry (convenience for tests and tools)."""
    return MMDET_MODELS.build(cfg)


__all__ = ['register_model', 'build_model', 'MMDET_MODELS', 'MMPRETRAIN_MODELS']
