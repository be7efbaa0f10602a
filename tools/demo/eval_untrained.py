"""Evaluate a config's model *before* training: the baseline the demo's trained AP is compared with.

``python tools/demo/eval_untrained.py CONFIG [--work-dir DIR] [--out results.pkl] [--cfg-options ...]``

Builds the Runner exactly as ``tools/test.py`` does, initialises the model's weights as training
would (the config's ``init_cfg``s, the seed of ``randomness``), and runs the test loop.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmdet_rla.tools_support.arguments import CfgOptions, exit_on_user_error  # noqa: E402
from mmdet_rla.tools_support.cli import build_runner, load_config, results_dumper  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description='Evaluate the untrained model of a config')
    parser.add_argument('config')
    parser.add_argument('--work-dir', help='where the logs go')
    parser.add_argument('--out', help='pickle the predictions to this .pkl file')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptions, help='override config settings')
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, 'none')
    cfg.load_from = None
    dumper = None if args.out is None else results_dumper(cfg, args.out)
    runner = build_runner(cfg)  # seeds from cfg.randomness (if any) before building the model
    runner.model.init_weights()
    if dumper is not None:
        runner.test_evaluator.metrics.append(dumper)
    return runner.test()


if __name__ == '__main__':
    with exit_on_user_error():
        main()
