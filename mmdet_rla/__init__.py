"""mmdet_rla: memory-along-depth ResNet backbones for MMDetection 3.x.

Importing the package registers its models in mmdet's (and mmpretrain's) registries, so configs
can build them after ``custom_imports = dict(imports=['mmdet_rla'], allow_failed_imports=False)``.
"""
from . import models  # noqa: F401  (registers the backbones)
from .version import __version__

__all__ = ['__version__', 'models']
