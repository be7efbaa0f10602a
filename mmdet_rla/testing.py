"""Helpers to check that a detector config trains and infers, used by the tests and handy for users,
and ``BACKBONE_VARIANTS``, the small backbones the compile / export / ONNX tests run over.

>>> from mmdet_rla.testing import detector_smoke_test
>>> losses, results = detector_smoke_test('configs/rla/retinanet_rla-r50_fpn_1x_coco.py')
"""

from typing import Dict, List, Tuple

import torch
from mmengine.config import Config

from .config_paths import config_path as resolve_config_path
from .utils import check_choice


def build_detector_from_config(config_path: str, *, pretrained: bool = False) -> torch.nn.Module:
    """Build the detector of ``config_path`` (a file or ``mmdet_rla::...``) in mmdet's scope;
    ``pretrained=False`` drops ``init_cfg``.

    Dropping the backbone's ``Pretrained`` init keeps a smoke test independent of weight files.
    """
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    import mmdet_rla  # noqa: F401  (registers the backbones)
    from mmdet_rla.deploy.detector import init_weights_quietly

    # No global default scope: building must not change what later mmpretrain builds resolve to.
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(resolve_config_path(config_path))
    if not pretrained:
        cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    init_weights_quietly(model)  # one INFO record per parameter otherwise: kept out of smoke tests
    return model


def detector_smoke_test(
    config_path: str, image_hw: Tuple[int, int] = (128, 160), num_boxes: int = 2, seed: int = 0, batch_size: int = 1
) -> Tuple[Dict[str, torch.Tensor], List]:
    """One training step (losses, backward) and one inference of the config's detector on CPU.

    ``batch_size=2`` suits necks whose last levels shrink to 1x1, where a training BatchNorm needs
    more than one value per channel (SSDLite's at 320x320).

    Returns the loss dict of the step and the predictions of the inference.
    """
    from mmdet.testing import demo_mm_inputs

    torch.manual_seed(seed)
    model = build_detector_from_config(config_path)
    with_mask = 'mask_head' in str(getattr(model, 'roi_head', ''))
    packed = demo_mm_inputs(
        batch_size=batch_size,
        image_shapes=[(3, *image_hw)] * batch_size,
        num_items=[num_boxes] * batch_size,
        num_classes=getattr(getattr(model, 'bbox_head', None), 'num_classes', 80)
        if hasattr(model, 'bbox_head')
        else 80,
        with_mask=with_mask,
    )
    model.train()
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    total.backward()
    model.eval()
    with torch.no_grad():
        results = model.test_step(demo_mm_inputs(batch_size=1, image_shapes=[(3, *image_hw)], num_items=[1]))
    return losses, results


# Small configurations of every backbone family and variant, for the compile / export / ONNX tests
# (tests/test_compile_export.py runs each of them and nothing else). Narrow (8-16 base channels) and
# 2 stages deep (4 for the two cheapest), so that a compile costs seconds; each entry still has every structural
# feature of its variant: stem, block type, strided stage transitions (where the recurrent states are
# pooled or convolved), the state update skipped after the last block, attention and cell types.
# Add a variant here and every compile/export/ONNX test covers it.
BACKBONE_VARIANTS: Dict[str, dict] = {
    # RLA-ResNet: BasicBlock / Bottleneck, ImageNet / CIFAR stems, SE / ECA, both rla_input readings.
    'rla-r18': dict(type='RLAResNet', depth=18, base_channels=8, rla_channels=8),
    'rla-r50-eca-output': dict(
        type='RLAResNet',
        depth=50,
        base_channels=8,
        rla_channels=8,
        num_stages=2,
        channel_attention='eca',
        eca_kernel_sizes=(3, 5),
        rla_input='output',
    ),
    'rla-cifar20-se-rlaout': dict(
        type='RLAResNet',
        depth=20,
        stem_type='cifar',
        base_channels=8,
        rla_channels=8,
        channel_attention='se',
        se_reduction=4,
        with_rla_output=True,
        num_stages=2,
    ),
    # RLA-ResNeXt and the Table 6 designs: ConvLSTM / ConvGRU cells, unshared units, no exchange, the
    # post-activated unit with new information after it from the shortcut.
    'rla-x50': dict(
        type='RLAResNeXt', depth=50, groups=4, base_width=2, base_channels=16, rla_channels=8, num_stages=2
    ),
    'rla-r50-lstm-unshared': dict(
        type='RLAResNet', depth=50, base_channels=8, rla_channels=8, num_stages=2, rla_cell='lstm', share_rla=False
    ),
    'rla-r18-gru-no-exchange': dict(
        type='RLAResNet',
        depth=18,
        base_channels=8,
        rla_channels=8,
        num_stages=2,
        rla_cell='gru',
        rla_exchange=False,
        with_rla_output=True,
    ),
    'rla-r18-post-after-identity': dict(
        type='RLAResNet',
        depth=18,
        base_channels=8,
        rla_channels=8,
        num_stages=2,
        rla_activation='post',
        rla_integration='after_recurrence',
        rla_input='identity',
    ),
    # RLA-MobileNetV2: the released design (one depthwise-separable recurrent conv for the whole network),
    # with ECA; index 7 is the last 1x1 conv reading concat(x, h).
    'rla-mnv2-eca': dict(
        type='RLAMobileNetV2', widen_factor=0.25, rla_channels=4, out_indices=(2, 7), channel_attention='eca'
    ),
    # RNNRegNet: each cell, light (composed and literal steps) and plain 3x3 recurrent convs, SE, both
    # regulator resolutions of a strided bottleneck, learned and reset state transitions.
    'regnet-r18-lstm': dict(type='RNNRegNet', depth=18, base_channels=8, regulator='lstm', num_stages=2),
    'regnet-r18-gru-literal': dict(
        type='RNNRegNet', depth=18, base_channels=8, regulator='gru', fuse_light_conv=False, num_stages=2
    ),
    'regnet-r18-rnn-fused-se': dict(
        type='RNNRegNet',
        depth=18,
        base_channels=8,
        regulator='rnn',
        fuse_light_conv=True,
        with_se=True,
        se_reduction=4,
        num_stages=2,
    ),
    'regnet-cifar20-gru-conv3x3': dict(
        type='RNNRegNet',
        depth=20,
        stem_type='cifar',
        base_channels=8,
        regulator='gru',
        regulator_conv='conv3x3',
        num_stages=2,
    ),
    'regnet-r50-lstm-input': dict(
        type='RNNRegNet',
        depth=50,
        base_channels=8,
        regulator='lstm',
        regulator_resolution='input',
        state_transition='conv1x1',
        num_stages=2,
    ),
    # RoR: ResNet (Basic / Bottleneck) and ResNeXt; drop rules, schedules and attention.
    'ror-r18': dict(type='RoRResNet', depth=18, base_channels=8),
    'ror-r50-eca-testtime': dict(
        type='RoRResNet',
        depth=50,
        base_channels=8,
        num_stages=2,
        channel_attention='eca',
        drop_scaling='test_time',
        drop_schedule='linear',
    ),
    'ror-cifar20': dict(type='RoRResNet', depth=20, stem_type='cifar', base_channels=8, num_stages=2),
    'ror-x50-se': dict(
        type='RoRResNeXt',
        depth=50,
        groups=4,
        base_width=2,
        base_channels=16,
        num_stages=2,
        channel_attention='se',
        se_reduction=4,
    ),
}
# What the TorchInductor test compiles (Inductor generates and compiles C++, minutes on 2 cores, so a
# few variants): RLA's pooled state, the regulator's pooled states, ConvLSTM's composed depthwise
# convolutions (channels-last) and its gate equations. Inductor compiled every variant above together,
# vectorised, without recompiling at the three sizes, when this was written (half an hour on 2 busy cores).
INDUCTOR_VARIANTS: Tuple[str, ...] = ('rla-r50-eca-output', 'regnet-r50-lstm-input')
# Three input sizes (odd ones included) at which every stage map of every variant is at least 2x2
# (a size-1 dimension is a broadcasting special case that compiled code guards on).
VARIANT_INPUT_SIZES: Tuple[Tuple[int, int], ...] = ((64, 80), (97, 131), (75, 61))


def build_backbone_variant(name: str) -> torch.nn.Module:
    """Build ``BACKBONE_VARIANTS[name]`` through mmdet's registry (random initialisation)."""
    from mmdet_rla.registry import build_model

    check_choice('name', name, sorted(BACKBONE_VARIANTS))
    return build_model(dict(BACKBONE_VARIANTS[name]))
