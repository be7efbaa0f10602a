"""Which part of an mmdet detector is exported, and loading a detector from a config and a checkpoint.

mmdet 3.x detectors end in Python post-processing (``predict_by_feat``: decoding boxes against
priors, score thresholds, top-k, batched NMS, rescaling to the original image) that produces
``InstanceData``. Exporters stumble there (mmdeploy rewrites it; a plain export leaves it out). Here the
exported network stops at the heads' raw outputs, and the runtime (:mod:`.runtime`) hands them to the
detector's own ``predict_by_feat``, so the detections come from mmdet's code either way:

- single-stage detectors (FCOS, RetinaNet, SSD, YOLOv3, ... any ``SingleStageDetector`` with a dense
  head): backbone + neck + ``bbox_head`` up to ``bbox_head.forward``'s outputs;
- two-stage detectors (Faster / Mask R-CNN, ... any ``TwoStageDetector`` with an RPN): backbone + neck
  (the feature maps the RoI head reads) + ``rpn_head`` up to its raw outputs; the RoI stage (RoIAlign,
  box and mask heads, their post-processing) runs in mmdet from the checkpoint's weights.
"""

import inspect
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config
from torch import nn

PARTS = ('single_stage', 'two_stage')
LAYOUT_VERSION = 1


def load_config(config: Union[str, Config], cfg_options: Optional[dict] = None) -> Config:
    """The config at path ``config`` (a file, or ``mmdet_rla::<path under configs/>``; or ``config`` itself),
    with ``cfg_options`` merged in.

    Raises:
        ValueError: ``config`` is not an existing file.
    """
    from ..config_paths import config_path
    from ..tools_support.scope import register_scope_modules

    if not isinstance(config, Config):
        config = config_path(config)
        if not isinstance(config, str) or not osp.isfile(config):
            raise ValueError(f'config: no such config file {config!r}')
        config = Config.fromfile(config)
    if cfg_options:
        config.merge_from_dict(cfg_options)
    register_scope_modules(config)
    return config


def load_state_dict_checked(model: nn.Module, checkpoint: str, config_name: str = 'the config') -> None:
    """Load ``checkpoint`` (``weights_only``) into ``model``; every tensor must fit.

    Raises:
        ValueError: The file does not exist, or its tensors do not fit the model: missing or
            unexpected keys, or shapes that differ. The message names the checkpoint and the
            first few offending keys.
    """
    from mmengine.runner.checkpoint import _load_checkpoint

    from ..engine.checkpoint_files import check_checkpoint_file
    from ..tools_support.checkpoint import allow_runner_checkpoints

    if not isinstance(checkpoint, str) or not osp.isfile(checkpoint):
        raise ValueError(f'checkpoint: no such file {checkpoint!r}')
    check_checkpoint_file(checkpoint)  # empty or not a torch.save file: say so before torch.load fails
    allow_runner_checkpoints()
    loaded = _load_checkpoint(checkpoint, map_location='cpu')  # torch.load(weights_only=True)
    state = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f'checkpoint {checkpoint!r} holds no state_dict of tensors')
    state = {k[len('module.') :] if k.startswith('module.') else k: v for k, v in state.items()}
    own = model.state_dict()
    mismatched = [
        f'{k}: checkpoint {tuple(v.shape)}, model {tuple(own[k].shape)}'
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    problems = []
    if mismatched:
        problems.append(f'{len(mismatched)} tensors of another shape ({"; ".join(mismatched[:3])})')
    else:
        # strict=False: the modules' own loading rules apply (RoR keeps its seeded masks when a
        # checkpoint has none); what is still missing or unexpected then is reported here.
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys:
            problems.append(f'{len(result.missing_keys)} missing keys (e.g. {result.missing_keys[:3]})')
        if result.unexpected_keys:
            problems.append(f'{len(result.unexpected_keys)} unexpected keys (e.g. {result.unexpected_keys[:3]})')
    if problems:
        raise ValueError(f'checkpoint {checkpoint!r} does not fit {config_name}: ' + ', '.join(problems))


def build_detector(cfg: Config, checkpoint: Optional[str] = None, seed: Optional[int] = None) -> nn.Module:
    """The detector of ``cfg`` in eval mode: with ``checkpoint``'s weights, else randomly initialised.

    The backbone's ``init_cfg`` (e.g. ImageNet weights) is dropped: the checkpoint carries every
    weight, and a random model needs no file. ``seed`` seeds torch before the random initialisation.
    """
    from mmdet.registry import MODELS

    model_cfg = cfg.model.copy()
    if 'backbone' in model_cfg:
        model_cfg.backbone.init_cfg = None
    if seed is not None:
        torch.manual_seed(seed)
    model = MODELS.build(model_cfg)
    if checkpoint is None:
        init_weights_quietly(model)
    else:
        load_state_dict_checked(model, checkpoint, f"the config's model ({cfg.filename or 'config'})")
    return model.eval()


def init_weights_quietly(model: nn.Module) -> None:
    """``model.init_weights()`` without the INFO record mmengine logs for every parameter."""
    import logging

    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)


def detector_part(detector: nn.Module) -> str:
    """``'single_stage'`` or ``'two_stage'``: how much of ``detector`` is exported (see the module doc).

    Raises:
        ValueError: Another kind of detector (e.g. DETR-like, or two-stage without an RPN).
    """
    from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
    from mmdet.models.detectors import SingleStageDetector, TwoStageDetector

    if isinstance(detector, SingleStageDetector) and isinstance(detector.bbox_head, BaseDenseHead):
        return 'single_stage'
    if isinstance(detector, TwoStageDetector) and detector.with_rpn:
        return 'two_stage'
    raise ValueError(
        'ONNX export supports single-stage detectors with a dense head (FCOS, RetinaNet, SSD, '
        'YOLOv3, ...) and two-stage detectors with an RPN (Faster / Mask R-CNN, ...); got '
        f'{type(detector).__name__}'
    )


def dense_head(detector: nn.Module) -> nn.Module:
    """The head whose raw outputs end the exported graph: ``bbox_head`` or ``rpn_head``."""
    return detector.bbox_head if detector_part(detector) == 'single_stage' else detector.rpn_head


class DetectorNetwork(nn.Module):
    """The exported part of a detector: image batch -> flat tuple of raw output tensors.

    Outputs, in order: for two-stage detectors the neck's feature maps, then every group of the dense
    head's outputs (``cls_scores`` of every level, then ``bbox_preds`` of every level, ...), i.e.
    ``head.forward``'s tuple of per-level lists, flattened. :meth:`layout` describes the grouping.
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.part = detector_part(detector)
        self.detector = detector

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        feats = self.detector.extract_feat(inputs)
        head_outputs = dense_head(self.detector)(feats)
        flat = [t for group in head_outputs for t in group]
        return tuple(feats) + tuple(flat) if self.part == 'two_stage' else tuple(flat)

    @torch.no_grad()
    def layout(self, inputs: torch.Tensor) -> dict:
        """How the flat outputs group (found by running the network on ``inputs``)."""
        feats = self.detector.extract_feat(inputs)
        head_outputs = dense_head(self.detector)(feats)
        return dict(
            version=LAYOUT_VERSION,
            part=self.part,
            detector=type(self.detector).__name__,
            num_features=len(feats) if self.part == 'two_stage' else 0,
            head_groups=[len(group) for group in head_outputs],
            group_names=head_output_names(dense_head(self.detector), len(head_outputs)),
        )

    def output_names(self, layout: dict) -> List[str]:
        """Graph output names: ``feature.{i}``, then ``{group}.{level}`` (e.g. ``cls_scores.0``)."""
        names = [f'feature.{i}' for i in range(layout['num_features'])]
        for group, count in zip(layout['group_names'], layout['head_groups']):
            names += [f'{group}.{level}' for level in range(count)]
        return names


def head_output_names(head: nn.Module, num_groups: int) -> List[str]:
    """Names of the head's output groups: the first parameters of its ``predict_by_feat``."""
    params = [name for name in inspect.signature(head.predict_by_feat).parameters if name != 'self']
    names = params[:num_groups]
    return names + [f'output{i}' for i in range(len(names), num_groups)]


def split_outputs(outputs: Sequence[torch.Tensor], layout: dict) -> Tuple[List[torch.Tensor], List[List[torch.Tensor]]]:
    """Undo :meth:`DetectorNetwork.forward`'s flattening: ``(features, [group, ...])``."""
    expected = layout['num_features'] + sum(layout['head_groups'])
    if len(outputs) != expected:
        raise ValueError(f'the ONNX file has {len(outputs)} outputs where its layout {layout} needs {expected}')
    outputs = list(outputs)
    features, start = outputs[: layout['num_features']], layout['num_features']
    groups = []
    for count in layout['head_groups']:
        groups.append(outputs[start : start + count])
        start += count
    return features, groups


def batch_img_metas(data_samples: Sequence) -> List[Dict]:
    """The ``metainfo`` of every data sample (what ``predict_by_feat`` reads)."""
    return [sample.metainfo for sample in data_samples]


__all__ = [
    'DetectorNetwork',
    'PARTS',
    'batch_img_metas',
    'build_detector',
    'dense_head',
    'detector_part',
    'head_output_names',
    'init_weights_quietly',
    'load_config',
    'load_state_dict_checked',
    'split_outputs',
]
