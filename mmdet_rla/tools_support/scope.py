"""Register the modules of the OpenMMLab package that a config's ``default_scope`` names.

The tools serve detection configs (``default_scope = 'mmdet'``) and classification configs
(``default_scope = 'mmpretrain'``) alike: the config decides. Importing :mod:`mmdet_rla` registers
the backbones in both packages' ``MODELS``; ``<scope>.utils.register_all_modules`` registers the
rest of that package (datasets, transforms, metrics, hooks, visualizers).
"""

import importlib
from typing import Optional

from mmengine.config import Config


def config_scope(cfg: Config) -> Optional[str]:
    """The config's ``default_scope`` (``None`` when it sets none: plain mmengine)."""
    return cfg.get('default_scope', None)


def register_scope_modules(cfg: Config) -> Optional[str]:
    """Import mmdet_rla and register every module of ``cfg.default_scope``; return the scope.

    Raises:
        ImportError: The scope names a package that is not installed, e.g. a classification
            config (``default_scope='mmpretrain'``) without mmpretrain.
    """
    import mmdet_rla  # noqa: F401  (registers the backbones in mmdet's and mmpretrain's MODELS)

    scope = config_scope(cfg)
    if scope is None or scope == 'mmengine':
        return scope
    try:
        utils = importlib.import_module(f'{scope}.utils')
    except ImportError as error:
        raise ImportError(
            f"the config's default_scope is {scope!r}, but the package {scope!r} cannot be imported: {error}"
        ) from error
    register = getattr(utils, 'register_all_modules', None)
    if register is not None:
        # The Runner sets the default scope itself, from the same config.
        register(init_default_scope=False)
    return scope


__all__ = ['config_scope', 'register_scope_modules']
