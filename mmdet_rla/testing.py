"""Helpers to check that a detector config trains and infers, used by the tests and handy for users.

>>> from mmdet_rla.testing import detector_smoke_test
>>> losses, results = detector_smoke_test('configs/rla/retinanet_rla-r50_fpn_1x_coco.py')
"""
from typing import Dict, List, Tuple

import logging

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger


def build_detector_from_config(config_path: str, *, pretrained: bool = False) -> torch.nn.Module:
    """Build the detector of ``config_path`` in mmdet's scope; ``pretrained=False`` drops ``init_cfg``.

    Dropping the backbone's ``Pretrained`` init keeps a smoke test independent of weight files.
    """
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    import mmdet_rla  # noqa: F401  (registers the backbones)

    # No global default scope: building must not change what later mmpretrain builds resolve to.
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config_path)
    if not pretrained:
        cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    # init_weights logs one INFO record per parameter: keep that out of smoke tests.
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model


def detector_smoke_test(config_path: str, image_hw: Tuple[int, int] = (128, 160), num_boxes: int = 2,
                        seed: int = 0, batch_size: int = 1) -> Tuple[Dict[str, torch.Tensor], List]:
    """One training step (losses, backward) and one inference of the config's detector on CPU.

    ``batch_size=2`` suits necks whose last levels shrink to 1x1, where a training BatchNorm needs
    more than one value per channel (SSDLite's at 320x320).

    Returns the loss dict of the step and the predictions of the inference.
    """
    from mmdet.testing import demo_mm_inputs

    torch.manual_seed(seed)
    model = build_detector_from_config(config_path)
    with_mask = 'mask_head' in str(getattr(model, 'roi_head', ''))
    packed = demo_mm_inputs(batch_size=batch_size, image_shapes=[(3, *image_hw)] * batch_size,
                            num_items=[num_boxes] * batch_size,
                            num_classes=getattr(getattr(model, 'bbox_head', None), 'num_classes', 80)
                            if hasattr(model, 'bbox_head') else 80, with_mask=with_mask)
    model.train()
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    total.backward()
    model.eval()
    with torch.no_grad():
        results = model.test_step(demo_mm_inputs(batch_size=1, image_shapes=[(3, *image_hw)], num_items=[1]))
    return losses, results
