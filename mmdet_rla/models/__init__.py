from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .dense_heads import FixedSSDHead

__all__ = _backbones + ['FixedSSDHead']
