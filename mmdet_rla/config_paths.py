"""The configs this package carries, and ``mmdet_rla::`` config paths.

The package holds its configs, their metafiles and the model index in ``mmdet_rla/.mim/``, the folder
where OpenMMLab packages keep them: ``.mim/configs/`` (the source tree's ``configs/``) and
``.mim/model-index.yml``. In a source checkout both are symbolic links to the top of the tree; a wheel
carries copies. So every config is reachable wherever the package is imported from:

- ``config_path('mmdet_rla::rla/faster-rcnn_rla-r50_fpn_1x_coco.py')`` is that config's file; every tool
  of :mod:`mmdet_rla.cli` (and ``tools/*.py``) accepts such a path where it takes a config;
- once ``mmdet_rla`` is imported, mmengine resolves the prefix itself: in ``_base_`` lines of one's own
  configs (``_base_ = 'mmdet_rla::_demo_/fcos_rla-r18-tiny_fpn_gn-head_shapes.py'``) and in
  ``mmengine.hub.get_config('mmdet_rla::...')``.

``Config.fromfile`` itself takes file paths only (mmengine 0.10 checks that the file exists before it looks
at a ``package::`` prefix, for mmdet's configs too): ``Config.fromfile(config_path('mmdet_rla::...'))``.
"""

import os.path as osp

PACKAGE = 'mmdet_rla'
PREFIX = PACKAGE + '::'
MIM_DIR = osp.join(osp.dirname(osp.abspath(__file__)), '.mim')
CONFIG_DIR = osp.join(MIM_DIR, 'configs')
MODEL_INDEX = osp.join(MIM_DIR, 'model-index.yml')
EXAMPLE = PREFIX + 'rla/faster-rcnn_rla-r50_fpn_1x_coco.py'


def register_with_mmengine() -> None:
    """Make mmengine resolve ``mmdet_rla::`` (``_base_`` lines, ``mmengine.hub.get_config``).

    mmengine accepts a ``package::`` prefix only for the packages in its ``MODULE2PACKAGE`` table, and
    looks the package up by its *distribution*: ``pkg_resources`` gives the folder the distribution was
    installed into, which for an editable install (PEP 660) is site-packages, not the source tree, and
    for a checkout on ``sys.path`` is whichever copy happens to be installed. Registering a module of the
    package instead (``mmdet_rla.version``, which no distribution is named after) makes mmengine fall back
    to ``importlib.util.find_spec``: the folder of the ``mmdet_rla`` that this process imports, whether it
    came from a wheel, ``pip install --target``, an editable install or a checkout. Importing
    ``mmdet_rla`` calls this; mmengine offers no hook that would run without that import.
    """
    from mmengine.config.utils import MODULE2PACKAGE

    MODULE2PACKAGE.setdefault(PACKAGE, f'{PACKAGE}.version')


def config_path(path: str) -> str:
    """The config file that ``path`` names: ``mmdet_rla::<path under configs/>``, another package's
    ``pkg::<path>`` (one mmengine knows, e.g. ``mmdet::``), or a file path, returned as it is.

    Raises:
        FileNotFoundError: ``path`` has a package prefix but that package has no such config.
        ValueError: the prefix names a package that mmengine cannot load configs of.
    """
    if not isinstance(path, str) or '::' not in path:
        return path
    package, _, relative = path.partition('::')
    if package == PACKAGE:
        root = CONFIG_DIR
    else:
        from mmengine.config.utils import MODULE2PACKAGE
        from mmengine.utils import get_installed_path, is_installed

        if package not in MODULE2PACKAGE:
            raise ValueError(
                f'config: {path!r}: the prefix must name a package with configs, one of '
                f'{sorted(set(MODULE2PACKAGE) | {PACKAGE})}, e.g. {EXAMPLE!r}'
            )
        if not is_installed(MODULE2PACKAGE[package]):
            raise ValueError(f'config: {path!r}: {package} is not installed')
        root = osp.join(get_installed_path(MODULE2PACKAGE[package]), '.mim', 'configs')
    resolved = osp.join(root, relative)
    if not osp.isfile(resolved):
        raise FileNotFoundError(
            f'config: {path!r}: {package} has no such config ({resolved} does not exist)'
            + (f'; e.g. {EXAMPLE!r}' if package == PACKAGE else '')
        )
    return resolved


__all__ = ['PACKAGE', 'CONFIG_DIR', 'MODEL_INDEX', 'MIM_DIR', 'register_with_mmengine', 'config_path']
