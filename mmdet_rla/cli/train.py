"""Train a model from a config: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] ...``.

mmdet 3.x conventions, for any config scope (detection configs with ``default_scope='mmdet'``,
classification configs with ``default_scope='mmpretrain'``). Distributed runs:
``tools/dist_train.sh CONFIG N`` (torchrun; gloo on a CPU-only machine, NCCL with GPUs) or
``tools/slurm_train.sh``. With our configs, SIGTERM or SIGUSR1 stops training after the current
iteration with a checkpoint and exit status 75; ``--resume`` continues exactly (``mmdet_rla/engine``).
"""

import argparse
import os

from mmengine.device import get_device

from mmdet_rla.deploy.compile import enable_train_compile
from mmdet_rla.engine import TrainingPreempted
from mmdet_rla.tools_support.arguments import run_tool
from mmdet_rla.tools_support.cli import add_common_args, add_compile_args, build_runner, finish_args, load_config
from mmdet_rla.tools_support.launch import exit_after_distributed_run, teardown_distributed
from mmdet_rla.tools_support.visualization import add_visualization_args, apply_visualization_args


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model (detector or classifier)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help="scale the learning rate by the total batch size (config's auto_scale_lr)",
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; without a path, from the newest valid one in the work dir '
        '(with our configs: exactly where it stopped)',
    )
    add_compile_args(parser, "the train step (mmengine's compile; falls back to the backbone)")
    add_common_args(parser)
    add_visualization_args(parser)
    return finish_args(parser.parse_args(argv))


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    apply_visualization_args(cfg, args)

    if args.amp:
        if get_device() == 'cpu':
            # mmengine's AmpOptimWrapper asserts a GPU (or NPU/MLU/MUSA) deep inside the Runner.
            raise ValueError(
                '--amp needs a GPU, NPU, MLU or MUSA device; this machine has none (train without --amp on CPU)'
            )
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.auto_scale_lr:
        auto_scale_lr = cfg.get('auto_scale_lr', None)
        if not auto_scale_lr or 'enable' not in auto_scale_lr or 'base_batch_size' not in auto_scale_lr:
            raise ValueError(
                '--auto-scale-lr needs auto_scale_lr = dict(enable=..., base_batch_size=...) in the config'
            )
        cfg.auto_scale_lr.enable = True

    # An explicit checkpoint wins over auto-resume from the work dir (mmdet's convention).
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.compile:
        enable_train_compile(cfg, args.compile_backend)
    runner = build_runner(cfg)
    try:
        runner.train()  # a stop signal ends it with exit status 75 (mmdet_rla.engine.PREEMPTED_EXIT_CODE)
    except TrainingPreempted:
        # torchrun reports any failed worker as status 1: tools/dist_train.sh reads this file instead.
        marker = os.environ.get('MMDET_RLA_PREEMPTED_FILE')
        if marker:
            open(marker, 'a').close()
        raise
    finally:
        distributed = teardown_distributed()
    if distributed:
        exit_after_distributed_run()  # gloo's threads can abort the interpreter's finalisation


if __name__ == '__main__':
    run_tool(main)
