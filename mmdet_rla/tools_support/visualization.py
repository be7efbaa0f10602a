"""``--vis-backend`` and ``--vis-features`` of the tools: where losses, metrics and pictures go.

``--vis-backend tensorboard`` adds mmengine's ``TensorboardVisBackend`` to the config's visualizer
(next to its ``LocalVisBackend``, so ``vis_data/scalars.json`` and the loss-curve tool keep
working): training losses, learning rate and validation metrics are logged there by mmengine's
``LoggerHook``, test metrics by :class:`~mmdet_rla.analysis.hooks.TestMetricsVisHook`, and images by
whoever calls ``visualizer.add_image``. The event files land in
``<work_dir>/<timestamp>/vis_data/``; view them with ``tensorboard --logdir <work_dir>``.

``--vis-features`` adds :class:`~mmdet_rla.analysis.hooks.BlockFeaturesHook`, which draws the
block-feature grid (per block ``I``, the family's state, ``O``) of the first evaluation image after
every validation and test run and sends it to the same backends.
"""

import argparse
from typing import Optional

from mmengine.config import Config, ConfigDict

VIS_BACKENDS = {
    'local': 'LocalVisBackend',
    'tensorboard': 'TensorboardVisBackend',
}


def add_visualization_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--vis-backend`` and ``--vis-features`` to a tool's parser."""
    parser.add_argument(
        '--vis-backend',
        choices=sorted(VIS_BACKENDS),
        default=None,
        help='also send losses, metrics and images to this backend (tensorboard: '
        "event files under WORK_DIR/<timestamp>/vis_data; 'tensorboard --logdir WORK_DIR')",
    )
    parser.add_argument(
        '--vis-features',
        action='store_true',
        help='after each validation/test run, draw the per-block feature grid (I, state, O) '
        'of the first evaluation image and send it to the vis backends',
    )


def add_vis_backend(cfg: Config, backend: str) -> None:
    """Add the vis backend ``backend`` (a key of :data:`VIS_BACKENDS`) to ``cfg.visualizer``."""
    if backend not in VIS_BACKENDS:
        raise ValueError(f'vis backend must be one of {sorted(VIS_BACKENDS)}, got {backend!r}')
    backend_type = VIS_BACKENDS[backend]
    visualizer = cfg.get('visualizer', None)
    if visualizer is None:
        cfg.visualizer = ConfigDict(type='Visualizer', name='visualizer', vis_backends=[])
        visualizer = cfg.visualizer
    backends = list(visualizer.get('vis_backends', None) or [])
    if not any(b.get('type') == backend_type for b in backends):
        backends.append(dict(type=backend_type))
    visualizer.vis_backends = backends


def add_custom_hook(cfg: Config, hook_type: str, **hook_args) -> None:
    """Append a hook of :mod:`mmdet_rla.analysis.hooks` to ``cfg.custom_hooks`` (once)."""
    import mmdet_rla.analysis.hooks  # noqa: F401  (registers the hooks)

    hooks = list(cfg.get('custom_hooks', None) or [])
    if not any(h.get('type') == hook_type for h in hooks):
        hooks.append(dict(type=hook_type, **hook_args))
    cfg.custom_hooks = hooks


def apply_visualization_args(cfg: Config, args: argparse.Namespace) -> None:
    """Apply ``--vis-backend`` / ``--vis-features`` (as added by :func:`add_visualization_args`)."""
    backend: Optional[str] = getattr(args, 'vis_backend', None)
    if backend is not None:
        add_vis_backend(cfg, backend)
        add_custom_hook(cfg, 'TestMetricsVisHook')
    if getattr(args, 'vis_features', False):
        add_custom_hook(cfg, 'BlockFeaturesHook')


__all__ = ['VIS_BACKENDS', 'add_custom_hook', 'add_vis_backend', 'add_visualization_args', 'apply_visualization_args']
