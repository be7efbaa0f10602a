"""One training step of each detector through mmengine's mixed-precision optimiser wrapper.

``model.train_step(data, optim_wrapper)`` is what mmengine's training loop calls: data preprocessing
and the forward pass inside ``optim_wrapper.optim_context`` (autocast), the losses, the scaled
backward pass and the optimiser step. On a GPU the wrapper is mmengine's ``AmpOptimWrapper`` (as
``--amp`` and ``optim_wrapper.type='AmpOptimWrapper'`` configure it: dynamic loss scaling, the
config's optimiser); ``AmpOptimWrapper`` refuses to be built without a GPU, so on the CPU the same step
runs through :class:`CPUAutocastOptimWrapper`, mmengine's plain ``OptimWrapper`` with
``torch.autocast('cpu', dtype)`` around the backbone and the neck (the package's part), the heads in
float32: mmcv's CPU ``nms`` and ``RoIAlign`` accept float32 only ("expected scalar type Float but found
BFloat16" in the RPN). The report says which ran.

The batch is mmdet's ``demo_mm_inputs`` (random images, boxes, and masks for Mask R-CNN) at the
config's COCO input size and per-GPU batch size. ``--tiny`` takes smaller images, batch 2, and narrows
the detector (``Detector.tiny``: an eighth of the backbone's widths, 16-channel necks and heads): on the
CPU, fp16 convolutions have no fast kernel (one ResNet-50 step at 128x160 took 70 s in fp16, 0.8 s in
bf16), and the narrow detector keeps the fp16 step to seconds. Checked: every
loss finite, every parameter finite after the steps. On a GPU the peak memory of the last step
(``torch.cuda.max_memory_allocated``) is compared with the same detector built with mmdet's own
backbone (ResNet/ResNeXt, MobileNetV2 for SSDLite) under the same settings; the CPU has no such
counter, and there the reference detector is not built.
"""

import copy
import functools
import inspect
import math
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
from mmengine.optim import OptimWrapper

from .numerics import AMP_DTYPES
from .report import FAIL, PASS, Row


class Detector(NamedTuple):
    config: str  # relative to the repository root
    reference_backbone: str  # mmdet's backbone of the same kind
    image_hw: Tuple[int, int]  # COCO training input (after Resize, before padding)
    batch: int  # the config's images per GPU
    tiny_hw: Tuple[int, int]
    tiny: Dict[str, object]  # --tiny: config overrides (dotted keys, as --cfg-options) that narrow the detector


# An FPN detector an eighth as wide: backbone stages 32-256 channels, FPN, RPN and RoI heads 16.
_NARROW_FPN = {
    'model.backbone.base_channels': 8,
    'model.neck.in_channels': [32, 64, 128, 256],
    'model.neck.out_channels': 16,
}
_NARROW_RPN_ROI = {
    'model.rpn_head.in_channels': 16,
    'model.rpn_head.feat_channels': 16,
    'model.roi_head.bbox_roi_extractor.out_channels': 16,
    'model.roi_head.bbox_head.in_channels': 16,
    'model.roi_head.bbox_head.fc_out_channels': 32,
}
_SSD_TINY_CHANNELS = (24, 1280, 64, 32, 32, 16)  # widen_factor 0.25 gives 24 channels at index 4; 1280 stays
DETECTORS: Dict[str, Detector] = {
    'faster-rcnn_rla-r50': Detector(
        'configs/rla/faster-rcnn_rla-r50_fpn_1x_coco.py',
        'ResNet',
        (800, 1333),
        2,
        (128, 160),
        {**_NARROW_FPN, **_NARROW_RPN_ROI, 'model.backbone.rla_channels': 8},
    ),
    'retinanet_ror-r50': Detector(
        'configs/ror/retinanet_ror-r50_fpn_1x_coco.py',
        'ResNet',
        (800, 1333),
        2,
        (128, 160),
        {**_NARROW_FPN, 'model.bbox_head.in_channels': 16, 'model.bbox_head.feat_channels': 16},
    ),
    'mask-rcnn_rnn-regnet50-lstm': Detector(
        'configs/rnn_regnet/mask-rcnn_rnn-regnet50-lstm_fpn_1x_coco.py',
        'ResNet',
        (800, 1333),
        2,
        (128, 160),
        {
            **_NARROW_FPN,
            **_NARROW_RPN_ROI,
            'model.roi_head.mask_roi_extractor.out_channels': 16,
            'model.roi_head.mask_head.in_channels': 16,
            'model.roi_head.mask_head.conv_out_channels': 16,
        },
    ),
    # SSDLite's anchors are laid out for 320x320, and its last levels are 1x1 there: no smaller input.
    'ssdlite_rla-mobilenetv2': Detector(
        'configs/rla_mobilenetv2/ssdlite_rla-mobilenetv2-scratch_8xb24-600e_coco.py',
        'MobileNetV2',
        (320, 320),
        24,
        (320, 320),
        {
            'model.backbone.widen_factor': 0.25,
            'model.backbone.rla_channels': 8,
            'model.neck.in_channels': _SSD_TINY_CHANNELS[:2],
            'model.neck.out_channels': _SSD_TINY_CHANNELS,
            'model.bbox_head.in_channels': _SSD_TINY_CHANNELS,
        },
    ),
}
GT_BOXES_PER_IMAGE = 7  # about COCO's mean number of objects per image


CPU_AUTOCAST_PARTS = ('backbone', 'neck')


def _to_float32(value):
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, (tuple, list)):
        return type(value)(_to_float32(v) for v in value)
    return value


def autocast_parts_on_cpu(model: torch.nn.Module, dtype: torch.dtype) -> List[str]:
    """Run the backbone's and the neck's forward under ``torch.autocast('cpu', dtype)``, returning float32
    maps to the heads (the CPU's stand-in for ``AmpOptimWrapper``'s autocast; see the module docstring)."""
    wrapped = []
    for name in CPU_AUTOCAST_PARTS:
        part = getattr(model, name, None)
        if part is None:
            continue
        forward = part.forward

        @functools.wraps(forward)
        def autocast_forward(*args, _forward=forward, **kwargs):
            with torch.autocast('cpu', dtype=dtype):
                return _to_float32(_forward(*args, **kwargs))

        part.forward = autocast_forward
        wrapped.append(name)
    return wrapped


def load_config(name: str, tiny: bool = False):
    from mmengine.config import Config

    from ..config_paths import config_path

    # The package's own configs, from a checkout or an installed wheel alike.
    cfg = Config.fromfile(config_path(DETECTORS[name].config.replace('configs/', 'mmdet_rla::', 1)))
    if tiny:
        cfg.merge_from_dict(dict(DETECTORS[name].tiny))
    return cfg


def reference_backbone(backbone_cfg: dict, reference_type: str) -> dict:
    """mmdet's ``reference_type`` with the settings of ``backbone_cfg`` that it accepts (depth, stages,
    frozen stages, norms, style, out indices), ResNeXt for grouped backbones."""
    from mmdet.registry import MODELS

    if reference_type == 'ResNet' and 'groups' in backbone_cfg:
        reference_type = 'ResNeXt'
    cls = MODELS.get(reference_type)
    accepted = set()
    for klass in cls.__mro__:  # ResNeXt passes **kwargs on to ResNet
        if '__init__' in vars(klass):
            accepted |= set(inspect.signature(klass.__init__).parameters)
    cfg = {key: value for key, value in backbone_cfg.items() if key in accepted and key not in ('self', 'kwargs')}
    cfg.update(type=reference_type, init_cfg=None)
    return cfg


def build_detector(cfg, device: torch.device) -> torch.nn.Module:
    """The config's detector with random weights (no pretrained checkpoint) on ``device``."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    import mmdet_rla  # noqa: F401  (registers the backbones)
    from mmdet_rla.deploy.detector import init_weights_quietly

    register_all_modules(init_default_scope=False)
    cfg = copy.deepcopy(cfg)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    init_weights_quietly(model)
    return model.to(device)


def optim_wrapper_for(model: torch.nn.Module, cfg, amp: str, device: torch.device) -> Tuple[OptimWrapper, str]:
    """The config's optimiser in ``AmpOptimWrapper`` (GPU), or in ``OptimWrapper`` with the backbone and
    neck autocast (CPU); and a description of what runs."""
    from mmengine.optim import build_optim_wrapper

    dtype = AMP_DTYPES[amp]
    wrapper_cfg = dict(copy.deepcopy(cfg.optim_wrapper))
    if device.type == 'cuda':
        wrapper_cfg.update(type='AmpOptimWrapper', dtype=str(dtype).replace('torch.', ''), loss_scale='dynamic')
        return build_optim_wrapper(model, wrapper_cfg), f'AmpOptimWrapper(dtype={str(dtype)[6:]!r}, dynamic loss scale)'
    wrapper_cfg['type'] = 'OptimWrapper'
    parts = autocast_parts_on_cpu(model, dtype)
    return build_optim_wrapper(model, wrapper_cfg), (
        f"OptimWrapper, {' and '.join(parts)} under torch.autocast('cpu', {str(dtype)[6:]}), heads float32 "
        '(AmpOptimWrapper needs a GPU)'
    )


def demo_batch(model: torch.nn.Module, hw: Tuple[int, int], batch: int, with_mask: bool) -> dict:
    from mmdet.testing import demo_mm_inputs

    head = getattr(model, 'bbox_head', None) or getattr(getattr(model, 'roi_head', None), 'bbox_head', None)
    return demo_mm_inputs(
        batch_size=batch,
        image_shapes=[(3, *hw)] * batch,
        num_items=[GT_BOXES_PER_IMAGE] * batch,
        num_classes=getattr(head, 'num_classes', 80),
        with_mask=with_mask,
    )


class StepResult(NamedTuple):
    losses: Dict[str, float]
    params_finite: bool
    peak_mib: Optional[float]
    wrapper: str
    loss_scale: Optional[float]
    backbone_dtype: Optional[str]  # what the backbone's first convolution computed in: the autocast at work


def _watch_first_conv(model: torch.nn.Module) -> Dict[str, str]:
    """Record the dtype of the output of the backbone's first convolution (at every call)."""
    seen: Dict[str, str] = {}
    conv = next((m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d)), None)
    if conv is not None:
        conv.register_forward_hook(lambda module, args, out: seen.update(dtype=str(out.dtype)[6:]))
    return seen


def train_steps(cfg, amp: str, device: torch.device, hw: Tuple[int, int], batch: int, steps: int) -> StepResult:
    """``steps`` training steps (the losses of the last); the peak memory of the last step on a GPU."""
    torch.manual_seed(0)
    model = build_detector(cfg, device)
    model.train()
    wrapper, description = optim_wrapper_for(model, cfg, amp, device)
    seen = _watch_first_conv(model)
    data = demo_batch(model, hw, batch, with_mask='mask_head' in str(cfg.model.get('roi_head', '')))
    peak = None
    for step in range(steps):
        if device.type == 'cuda' and step == steps - 1:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        log_vars = model.train_step(copy.deepcopy(data), wrapper)
        if device.type == 'cuda' and step == steps - 1:
            torch.cuda.synchronize(device)
            peak = torch.cuda.max_memory_allocated(device) / 2**20
    losses = {key: float(value) for key, value in log_vars.items()}
    params_finite = all(bool(torch.isfinite(p).all()) for p in model.parameters())
    scaler = getattr(wrapper, 'loss_scaler', None)
    scale = float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else None
    return StepResult(losses, params_finite, peak, description, scale, seen.get('dtype'))


def check_detector(context, name: str, amp: str) -> List[Row]:
    detector = DETECTORS[name]
    cfg = load_config(name, context.tiny)
    hw = detector.tiny_hw if context.tiny else detector.image_hw
    batch = 2 if context.tiny else detector.batch
    steps = context.detector_steps
    ours = train_steps(cfg, amp, context.device, hw, batch, steps)
    problems = [key for key, value in ours.losses.items() if not math.isfinite(value)]
    reason = ''
    if problems:
        reason = f'non-finite losses: {", ".join(problems)}'
    elif not ours.params_finite:
        reason = 'non-finite parameters after the step'
    expected_dtype = str(AMP_DTYPES[amp])[6:]
    if not reason and ours.backbone_dtype != expected_dtype:
        reason = f'the backbone computed in {ours.backbone_dtype}, not in {expected_dtype}: autocast did not reach it'
    details = dict(
        config=detector.config,
        input_hw=hw,
        batch=batch,
        steps=steps,
        wrapper=ours.wrapper,
        backbone_dtype=ours.backbone_dtype,
        losses=ours.losses,
        loss_scale=ours.loss_scale,
        peak_mib=ours.peak_mib,
    )
    memory = 'memory: n/a on the CPU'
    if ours.peak_mib is not None:
        reference_cfg = copy.deepcopy(cfg)
        reference_cfg.model.backbone = reference_backbone(dict(cfg.model.backbone), detector.reference_backbone)
        torch.cuda.empty_cache()  # the first detector is gone: it lived in train_steps
        reference = train_steps(reference_cfg, amp, context.device, hw, batch, steps)
        details.update(
            reference_backbone=reference_cfg.model.backbone,
            reference_peak_mib=reference.peak_mib,
            reference_losses=reference.losses,
            memory_ratio=details['peak_mib'] / reference.peak_mib,
        )
        memory = (
            f'peak {details["peak_mib"]:.0f} MiB = {details["memory_ratio"]:.2f}x mmdet '
            f'{reference_cfg.model.backbone["type"]} ({reference.peak_mib:.0f} MiB)'
        )
    total = details['losses'].get('loss', float('nan'))
    return [
        Row(
            f'detector/{name}/{amp}',
            FAIL if reason else PASS,
            total,
            f'loss {total:.3g}',
            None,
            'finite losses',
            reason=reason,
            note=f'{memory}; batch {batch} at {hw[0]}x{hw[1]}, {steps} step(s), {details["wrapper"]}; '
            f'backbone convolutions in {ours.backbone_dtype}',
            details=details,
        )
    ]
