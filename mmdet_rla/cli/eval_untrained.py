"""Evaluate a config's model *before* training: the baseline the demo's trained AP is compared with.

``python tools/demo/eval_untrained.py CONFIG [--work-dir DIR] [--out results.pkl] [--score-thr 0]
[--cfg-options ...]``

Builds the Runner exactly as ``tools/test.py`` does, initialises the model's weights as training
would (the config's ``init_cfg``s, the seed of ``randomness``), and runs the test loop.

An untrained detector's scores lie below the configs' thresholds (``score_thr=0.05``): evaluated at
those, it predicts nothing and COCO evaluation reports no metrics. Every ``score_thr`` of the model's
``test_cfg`` (``rcnn.score_thr`` of two-stage detectors too) is therefore set to ``--score-thr``
(default 0: the best ``max_per_img`` boxes of each image count).
"""

import argparse

from mmdet_rla.tools_support.arguments import CfgOptions, run_tool, unit_interval
from mmdet_rla.tools_support.cli import build_runner, load_config, results_dumper


def set_score_thresholds(test_cfg, score_thr: float) -> int:
    """Set every ``score_thr`` in ``test_cfg`` (nested: ``rcnn``, ...) to ``score_thr``; return how many."""
    if isinstance(test_cfg, (list, tuple)):
        return sum(set_score_thresholds(item, score_thr) for item in test_cfg)
    if not isinstance(test_cfg, dict):
        return 0
    count = 0
    for key, value in test_cfg.items():
        if key == 'score_thr':
            test_cfg[key] = score_thr
            count += 1
        else:
            count += set_score_thresholds(value, score_thr)
    return count


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description='Evaluate the untrained model of a config')
    parser.add_argument('config')
    parser.add_argument('--work-dir', help='where the logs go')
    parser.add_argument('--out', help='pickle the predictions to this .pkl file')
    parser.add_argument(
        '--score-thr',
        type=unit_interval,
        default=0.0,
        help="every score_thr of the model's test_cfg (default 0: untrained scores lie below the configs' 0.05)",
    )
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptions, help='override config settings')
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, 'none')
    set_score_thresholds(cfg.model.get('test_cfg'), args.score_thr)
    cfg.load_from = None
    dumper = None if args.out is None else results_dumper(cfg, args.out)
    runner = build_runner(cfg)  # seeds from cfg.randomness (if any) before building the model
    runner.model.init_weights()
    if dumper is not None:
        runner.test_evaluator.metrics.append(dumper)
    return runner.test()


if __name__ == '__main__':
    run_tool(main)
