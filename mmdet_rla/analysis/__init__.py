"""Analysis of the backbones: per-block capture, feature-map grids, block probes, RoR channel statistics.

Importing this package registers :class:`~.hooks.BlockFeaturesHook` and :class:`~.hooks.TestMetricsVisHook`
in mmengine's ``HOOKS``; a config
uses it with ``custom_imports = dict(imports=['mmdet_rla', 'mmdet_rla.analysis'])`` and
``custom_hooks = [dict(type='BlockFeaturesHook')]`` (or ``tools/train.py --vis-features``).
"""

from .capture import (
    BlockCapture,
    BlockRecord,
    block_names,
    global_average_pool,
    iter_blocks,
    residual_output_module,
    select_blocks,
)
from .featmaps import block_feature_grid, draw_block_grid
from .hooks import BlockFeaturesHook, TestMetricsVisHook

__all__ = [
    'BlockCapture',
    'BlockFeaturesHook',
    'BlockRecord',
    'block_feature_grid',
    'block_names',
    'draw_block_grid',
    'global_average_pool',
    'iter_blocks',
    'residual_output_module',
    'select_blocks',
    'TestMetricsVisHook',
]
