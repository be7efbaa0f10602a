"""mmdet_rla: memory-along-depth ResNet backbones for MMDetection 3.x.

Importing the package registers its models in mmdet's (and mmpretrain's) registries, so configs
can build them after ``custom_imports = dict(imports=['mmdet_rla'], allow_failed_imports=False)``.
"""
from . import engine  # noqa: F401  (registers the resumable loops, checkpoint hook and file backend)
from . import models  # noqa: F401  (registers the backbones)
from .tools_support.checkpoint import allow_runner_checkpoints
from .version import __version__

# mmengine's Runner checkpoints pickle a few mmengine/numpy types that torch >= 2.6 refuses under its
# weights_only default. Allowlisting exactly those (no arbitrary unpickling) lets mmdet's own tools and
# init_detector load checkpoints trained with our configs, whose custom_imports import this package.
allow_runner_checkpoints()

__all__ = ['__version__', 'engine', 'models']
