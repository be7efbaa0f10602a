"""mmdet_rla: memory-along-depth ResNet backbones for MMDetection 3.x.

Importing the package registers its models in mmdet's (and mmpretrain's) registries, so configs
can build them after ``custom_imports = dict(imports=['mmdet_rla'], allow_failed_imports=False)``.
The package carries its configs: ``config_path('mmdet_rla::rla/faster-rcnn_rla-r50_fpn_1x_coco.py')``
(see :mod:`mmdet_rla.config_paths`).
"""

from . import (
    engine,  # noqa: F401  (registers the resumable loops, checkpoint hook and file backend)
    models,  # noqa: F401  (registers the backbones)
)
from .config_paths import config_path, register_with_mmengine
from .tools_support.checkpoint import allow_runner_checkpoints
from .version import __version__

# mmengine's Runner checkpoints pickle a few mmengine/numpy types that torch >= 2.6 refuses under its
# weights_only default. Allowlisting exactly those (no arbitrary unpickling) lets mmdet's own tools and
# init_detector load checkpoints trained with our configs, whose custom_imports import this package.
allow_runner_checkpoints()
# 'mmdet_rla::rla/...' in _base_ lines and mmengine.hub.get_config: the configs inside this package (.mim/).
register_with_mmengine()

__all__ = ['__version__', 'config_path', 'engine', 'models']
