"""Build a model of any config of this package, load its checkpoint, and feed it images.

Shared by the analysis tools (``tools/analysis/vis_features.py``, ``block_probe.py``,
``ror_channels.py``) and the feature-picture hook: a detector (``default_scope='mmdet'``) or a
classifier (``'mmpretrain'``) is built through its scope's registry, its checkpoint loaded with
``weights_only=True`` (:mod:`mmdet_rla.tools_support.checkpoint`), and images go through the
config's own test pipeline and the model's data preprocessor, as at inference time.
"""

import contextlib
import copy
import logging
import math
import os.path as osp
import re
import warnings
from dataclasses import dataclass
from typing import Any, ContextManager, Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import MMLogger
from mmengine.registry import MODELS, DefaultScope
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model
from torch import nn

from ..config_paths import config_path
from ..engine.checkpoint_files import check_checkpoint_file
from ..tools_support.checkpoint import allow_runner_checkpoints
from ..tools_support.scope import register_scope_modules

# Test-pipeline steps that need annotations: an image file alone does not have them.
_ANNOTATION_TRANSFORMS = ('LoadAnnotations',)


def load_config(config: str, cfg_options: Optional[dict] = None) -> Config:
    """Read ``config`` (a file, or ``mmdet_rla::<path under configs/>``), apply ``cfg_options`` and register
    the modules of its scope."""
    config = config_path(config)
    if not osp.isfile(config):
        raise ValueError(f'config must be an existing config file, got {config!r}')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    register_scope_modules(cfg)
    return cfg


def config_scope(cfg: Config) -> ContextManager:
    """A context in which registries build from ``cfg``'s ``default_scope`` (``mmdet`` when it has none).

    Only for the ``with`` block: the process-wide default scope stays as it was.
    """
    return DefaultScope.overwrite_default_scope(cfg.get('default_scope', None) or 'mmdet')


def model_config(cfg: Config) -> dict:
    """``cfg.model`` with the config's top-level ``data_preprocessor`` filled in, as mmengine's Runner does.

    mmpretrain configs set the normalisation at the top level (``data_preprocessor = dict(mean=...)``);
    building ``cfg.model`` alone would feed the network unnormalised images.
    """
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor', None) is not None:
        model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    return model_cfg


def build_model(cfg: Config, checkpoint: Optional[str] = None, *, seed: int = 0, device: str = 'cpu') -> nn.Module:
    """The config's model in eval mode: the checkpoint's weights, or initialised as training would.

    Without ``checkpoint`` the model is built and initialised (``init_weights``: the config's
    ``init_cfg`` s, e.g. zero-init of each block's last norm) from torch's RNG seeded with ``seed``
    (in a forked RNG state: the caller's is unchanged).
    """
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise ValueError(f'checkpoint must be an existing file, got {checkpoint!r}')
    with config_scope(cfg), torch.random.fork_rng(devices=[]):  # the caller's RNG state is left alone
        torch.manual_seed(seed)
        model = MODELS.build(model_config(cfg))
        if checkpoint is None:
            try:
                with _init_logs_silenced():
                    model.init_weights()
            except (FileNotFoundError, OSError) as error:
                raise ValueError(
                    f'initialising the untrained model failed ({error}); give a checkpoint, or drop '
                    'Pretrained init_cfgs, e.g. --cfg-options model.backbone.init_cfg=None'
                ) from error
    if checkpoint is not None:
        load_weights(model, checkpoint)
    return model.to(device).eval()


def load_weights(model: nn.Module, checkpoint: str) -> None:
    """Load ``checkpoint``'s ``state_dict`` into ``model`` (non-strict, as mmengine's ``load_checkpoint``),
    checking that it is this model's.

    Raises:
        ValueError: The file is not a checkpoint (:class:`~mmdet_rla.engine.CheckpointFileError`),
            holds no state dict, or none of its tensors fits the model by name and shape: a checkpoint
            of another model, whose pictures would show an untrained network.

    Warns:
        UserWarning: Some of the model's tensors are not in the checkpoint (or have other shapes);
            they keep their initial values. Extra tensors of the checkpoint are ignored.
    """
    check_checkpoint_file(checkpoint)  # missing, empty or foreign: say so before mmengine's loader fails
    allow_runner_checkpoints()  # our Runner checkpoints, still under weights_only=True
    loaded = _load_checkpoint(checkpoint, map_location='cpu')
    state_dict = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else None
    if not isinstance(state_dict, dict):
        raise ValueError(f'checkpoint {checkpoint!r} holds no state dict (found a {type(loaded).__name__})')
    state_dict = {re.sub(r'^module\.', '', name): value for name, value in state_dict.items()}  # DDP prefixes
    expected = model.state_dict()
    fitting = {name for name, value in expected.items() if getattr(state_dict.get(name), 'shape', None) == value.shape}
    if not fitting:
        raise ValueError(
            f'checkpoint {checkpoint!r} holds no weights of this {type(model).__name__}: none of its '
            f'{len(state_dict)} tensors fits one of the model by name and shape (it has e.g. '
            f'{sorted(state_dict)[:3]}, the model e.g. {sorted(expected)[:3]}); is it another '
            "config's checkpoint?"
        )
    missing = sorted(set(expected) - fitting)
    if missing:
        warnings.warn(
            f'checkpoint {checkpoint!r} lacks {len(missing)} of the {len(expected)} tensors of this '
            f'{type(model).__name__} (or holds them in other shapes), e.g. {missing[:3]}: they keep '
            'their initial values',
            stacklevel=2,
        )
    _load_checkpoint_to_model(model, loaded, strict=False, logger='silent')


@contextlib.contextmanager
def _init_logs_silenced():
    """No per-parameter initialisation records (mmengine logs one per parameter at INFO)."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def test_pipeline_config(cfg: Config) -> List[dict]:
    """The config's test pipeline (test, then val dataloader) without annotation loading."""
    for key in ('test_dataloader', 'val_dataloader'):
        dataset = cfg.get(key, {}).get('dataset', {})
        dataset = dataset.get('dataset', dataset)  # dataset wrappers (RepeatDataset, ...)
        if 'pipeline' in dataset:
            return [
                copy.deepcopy(t)
                for t in dataset['pipeline']
                if not str(t.get('type', '')).endswith(_ANNOTATION_TRANSFORMS)
            ]
    raise ValueError(
        'the config has no test_dataloader.dataset.pipeline (nor val_dataloader): cannot prepare an image for the model'
    )


@dataclass
class PreparedImage:
    """An image as the model sees it.

    Attributes:
        inputs: ``(1, 3, H_pad, W_pad)``, normalised (and padded) by the model's data preprocessor.
        image: The image after the test pipeline (resized, not normalised), RGB ``uint8`` HxWx3:
            what feature maps are drawn over.
        valid_fraction: ``(H / H_pad, W / W_pad)``: the part of ``inputs`` (and of every feature
            map) that holds the image rather than padding.
    """

    inputs: torch.Tensor
    image: np.ndarray
    valid_fraction: Tuple[float, float]


def prepare_sample(model: nn.Module, sample: Dict[str, Any]) -> PreparedImage:
    """Run one packed sample (the output of a test pipeline) through the model's data preprocessor."""
    batch = model.data_preprocessor(pseudo_collate([sample]), False)
    inputs = batch['inputs']
    packed = sample['inputs']  # CHW uint8, BGR as loaded by LoadImageFromFile
    image = np.ascontiguousarray(packed.numpy().transpose(1, 2, 0)[..., ::-1])
    height, width = image.shape[:2]
    return PreparedImage(inputs, image, (height / inputs.shape[-2], width / inputs.shape[-1]))


def prepare_image(model: nn.Module, cfg: Config, image_path: str) -> PreparedImage:
    """Load ``image_path`` through the config's test pipeline and the model's data preprocessor."""
    if not osp.isfile(image_path):
        raise ValueError(f'img must be an existing image file, got {image_path!r}')
    with config_scope(cfg):
        pipeline = Compose(test_pipeline_config(cfg))
    sample = pipeline(dict(img_path=image_path, img_id=0))
    return prepare_sample(model, sample)


def crop_to_valid(featmap: torch.Tensor, valid_fraction: Tuple[float, float]) -> torch.Tensor:
    """``featmap[..., :h, :w]``: the part of a ``(..., H, W)`` map that covers the unpadded image."""
    # Strided convs round up, so a map covers ceil(fraction * size) rows of image (1e-6: float noise).
    height = max(1, math.ceil(featmap.shape[-2] * valid_fraction[0] - 1e-6))
    width = max(1, math.ceil(featmap.shape[-1] * valid_fraction[1] - 1e-6))
    return featmap[..., :height, :width]


__all__ = [
    'PreparedImage',
    'build_model',
    'config_scope',
    'crop_to_valid',
    'load_config',
    'load_weights',
    'model_config',
    'prepare_image',
    'prepare_sample',
    'test_pipeline_config',
]
