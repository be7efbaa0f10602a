"""Test an exported detector: ``python tools/deployment/test_onnx.py CONFIG ONNX_FILE [--checkpoint C]``.

Runs the config's test set through :class:`mmdet_rla.deploy.ONNXRuntimeDetector` (onnxruntime for
the exported network, mmdet's post-processing and RoI stage after it) inside mmengine's test loop, so
the config's evaluator (e.g. COCO mAP) reports as ``tools/test.py`` does. ``--out`` pickles the
detections in ``tools/test.py --out``'s format; ``--compare-to`` compares them, image by image, with
such a pickle from ``tools/test.py`` (labels, boxes and scores).
"""

import argparse
import os.path as osp

from mmdet_rla.deploy.compare import compare_detections, format_comparison
from mmdet_rla.deploy.runtime import ONNXRuntimeDetector
from mmdet_rla.tools_support.arguments import run_tool
from mmdet_rla.tools_support.cli import add_common_args, build_runner, finish_args, load_config, results_dumper
from mmdet_rla.tools_support.coco_eval import load_results_pickle
from mmdet_rla.tools_support.launch import teardown_distributed


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) an exported detector with onnxruntime')
    parser.add_argument('config', help='the config the file was exported from')
    parser.add_argument('onnx_file', help='the file tools/deployment/export_onnx.py wrote')
    parser.add_argument('--checkpoint', help="the exported checkpoint (two-stage detectors: the RoI stage's weights)")
    parser.add_argument('--device', default='cpu', help="onnxruntime's device (cpu, cuda, cuda:1, ...)")
    parser.add_argument('--out', help='pickle the detections to this .pkl file (tools/test.py --out format)')
    parser.add_argument('--compare-to', help='a tools/test.py --out pickle of the same test set to compare with')
    add_common_args(parser)
    return finish_args(parser.parse_args(argv))


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.launcher != 'none':
        raise ValueError('--launcher: onnxruntime testing runs in one process; use --launcher none')
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    out = args.out or (osp.join(cfg.work_dir, 'onnx_results.pkl') if args.compare_to else None)
    dumper = None if out is None else results_dumper(cfg, out)
    runner = build_runner(cfg)
    # mmengine's test loop, evaluator and hooks, with the onnxruntime detector as the model.
    runner.model = ONNXRuntimeDetector(args.onnx_file, cfg, args.checkpoint, device=args.device)
    if dumper is not None:
        runner.test_evaluator.metrics.append(dumper)
    try:
        metrics = runner.test()
    finally:
        teardown_distributed()
    if args.compare_to:
        report = compare_detections(load_results_pickle(out), load_results_pickle(args.compare_to))
        print(f'onnxruntime vs {args.compare_to}: {format_comparison(report)}')
        metrics = dict(metrics, comparison=report)
    return metrics


if __name__ == '__main__':
    run_tool(main)
