from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .dense_heads import FixedSSDHead
from .weight_init import LoadReport, ResNetWarmStartInit

__all__ = _backbones + ['FixedSSDHead', 'LoadReport', 'ResNetWarmStartInit']
