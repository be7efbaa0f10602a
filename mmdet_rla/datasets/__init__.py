"""Dataset helpers: a synthetic COCO-format shapes dataset for demos and tests."""

from .synthetic_coco import CLASSES, METAINFO, PALETTE, generate_coco_dataset, make_image

__all__ = ['CLASSES', 'METAINFO', 'PALETTE', 'generate_coco_dataset', 'make_image']
from .synthetic_cls import generate_cls_dataset, make_pattern_image  # noqa: F401,E402
