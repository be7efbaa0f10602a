"""What ``tools/train.py`` and ``tools/test.py`` share: config loading, runner building, visualisation.

Both tools follow mmdet 3.x's command-line conventions and work for any config scope: the config's
``default_scope`` (``mmdet`` for detection, ``mmpretrain`` for classification) decides which
package's modules are registered, which results dumper ``--out`` uses and how ``--show-dir``
switches the visualisation hook on.
"""

import argparse
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.registry import RUNNERS, init_default_scope
from mmengine.runner import Runner

from ..config_paths import config_path
from .arguments import CfgOptions, compile_backend
from .checkpoint import allow_runner_checkpoints
from .launch import LAUNCHERS, setup_distributed
from .scope import register_scope_modules


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """``--work-dir``, ``--cfg-options``, ``--launcher`` and ``--local_rank/--local-rank``."""
    parser.add_argument('--work-dir', help='the directory for logs, checkpoints and metrics')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptions,
        help='override settings of the config, key=value pairs such as '
        'train_cfg.max_epochs=2 or model.backbone.depth=50; a list value is written '
        'key="[a,b]" or key=a,b (quotation marks needed, no white space)',
    )
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank (older).
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def add_compile_args(parser: argparse.ArgumentParser, what: str) -> None:
    """``--compile`` and ``--compile-backend`` (see :mod:`mmdet_rla.deploy.compile`)."""
    parser.add_argument('--compile', action='store_true', help=f'torch.compile: {what}')
    parser.add_argument(
        '--compile-backend',
        type=compile_backend,
        default='inductor',
        help='the torch.compile backend of --compile (default: inductor)',
    )


def finish_args(args: argparse.Namespace) -> argparse.Namespace:
    """Export ``LOCAL_RANK`` from the command line when the launcher did not set it."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(config: str, cfg_options: Optional[dict], work_dir: Optional[str], launcher: str) -> Config:
    """Load ``config`` (a file, or ``mmdet_rla::<path under configs/>``), apply the overrides, register its
    scope and prepare the distributed run.

    ``work_dir`` priority (as in mmdet): command line > the config's ``work_dir`` >
    ``./work_dirs/<config name>``.
    """
    cfg = Config.fromfile(config_path(config))
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    register_scope_modules(cfg)
    # weights_only=True stays on for every load; this allowlists what our own Runner checkpoints
    # hold beyond tensors (see mmdet_rla/tools_support/checkpoint.py).
    allow_runner_checkpoints()
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    setup_distributed(cfg, launcher)
    return cfg


def build_runner(cfg: Config) -> Runner:
    """mmengine's Runner, or the config's ``runner_type`` looked up in the config's scope."""
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    scope = cfg.get('default_scope', None)
    if scope is not None:
        init_default_scope(scope)
    return RUNNERS.build(cfg)


def enable_visualization(cfg: Config, show: bool, show_dir: Optional[str], wait_time: float) -> None:
    """Switch the config's visualisation hook on for testing (``--show`` / ``--show-dir``).

    mmdet's ``DetVisualizationHook`` is turned on by ``draw`` and saves to ``test_out_dir``
    (under ``work_dir/<timestamp>``); mmpretrain's hook by ``enable`` and saves to ``out_dir``.
    """
    hooks = cfg.get('default_hooks', {})
    if 'visualization' not in hooks:
        raise ValueError(
            "--show/--show-dir need a visualization hook in the config's default_hooks, "
            "e.g. default_hooks = dict(visualization=dict(type='DetVisualizationHook'))"
        )
    hook = hooks['visualization']
    if cfg.get('default_scope', None) == 'mmdet':
        hook['draw'] = True
        if show_dir:
            hook['test_out_dir'] = show_dir
    else:
        hook['enable'] = True
        if show_dir:
            hook['out_dir'] = show_dir
    if show:
        hook['show'] = True
        hook['wait_time'] = wait_time


def results_dumper(cfg: Config, out_file: str):
    """The metric that pickles the test predictions to ``out_file`` for the config's scope."""
    if not out_file.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out must name a .pkl or .pickle file, got {out_file!r}')
    if cfg.get('default_scope', None) == 'mmdet':
        from mmdet.evaluation import DumpDetResults  # encodes masks as RLE, drops images

        return DumpDetResults(out_file_path=out_file)
    from mmengine.evaluator import DumpResults

    return DumpResults(out_file_path=out_file)


__all__ = [
    'add_common_args',
    'add_compile_args',
    'finish_args',
    'load_config',
    'build_runner',
    'enable_visualization',
    'results_dumper',
]
