"""Test (and evaluate) a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--out R.pkl] ...``.

mmdet 3.x conventions, for any config scope (``default_scope`` ``mmdet`` or ``mmpretrain``).
``--out`` pickles the predictions (mmdet's ``DumpDetResults`` for detection) for offline
evaluation, e.g. with ``tools/analysis/coco_eval.py``. Checkpoints load with
``weights_only=True`` (see ``mmdet_rla/tools_support/checkpoint.py``).
"""

import argparse

from mmdet_rla.deploy.compile import compile_for_inference
from mmdet_rla.tools_support.arguments import run_tool
from mmdet_rla.tools_support.cli import (
    add_common_args,
    add_compile_args,
    build_runner,
    enable_visualization,
    finish_args,
    load_config,
    results_dumper,
)
from mmdet_rla.tools_support.launch import exit_after_distributed_run, teardown_distributed
from mmdet_rla.tools_support.visualization import add_visualization_args, apply_visualization_args


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='pickle the predictions to this .pkl file for offline evaluation')
    parser.add_argument('--show', action='store_true', help='show the predictions in a window')
    parser.add_argument(
        '--show-dir',
        help='save images with the predictions drawn to this directory (mmdet: relative to work_dir/<timestamp>)',
    )
    parser.add_argument('--wait-time', type=float, default=2, help='seconds each image is shown')
    add_compile_args(parser, 'the backbone and neck, for inference with dynamic shapes')
    add_common_args(parser)
    add_visualization_args(parser)
    return finish_args(parser.parse_args(argv))


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    apply_visualization_args(cfg, args)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        enable_visualization(cfg, args.show, args.show_dir, args.wait_time)

    dumper = None if args.out is None else results_dumper(cfg, args.out)  # checks --out early

    runner = build_runner(cfg)
    if dumper is not None:
        runner.test_evaluator.metrics.append(dumper)
    if args.compile:
        compile_for_inference(runner.model, backend=args.compile_backend)
    try:
        runner.test()
    finally:
        distributed = teardown_distributed()
    if distributed:
        exit_after_distributed_run()  # gloo's threads can abort the interpreter's finalisation


if __name__ == '__main__':
    run_tool(main)
