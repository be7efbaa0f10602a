"""COCO evaluation of saved detections: ``python tools/analysis/coco_eval.py RESULTS ANN [--metric bbox segm]``.

RESULTS is a COCO results json (a list of detections) or the pickle ``tools/test.py --out`` writes;
ANN is the COCO annotation json of the same images. Prints pycocotools' AP/AR table per metric.
"""

import argparse

from mmdet_rla.tools_support.arguments import run_tool
from mmdet_rla.tools_support.coco_eval import METRICS, evaluate


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='COCO-evaluate a results file against annotations')
    parser.add_argument('results', help='COCO results .json, or the .pkl of tools/test.py --out')
    parser.add_argument('ann', help='COCO annotation .json of the evaluated images')
    parser.add_argument('--metric', nargs='+', default=['bbox'], choices=METRICS, help='what to evaluate')
    parser.add_argument(
        '--classes',
        nargs='+',
        help='class names in the order of the model labels (a .pkl only; default: the '
        "annotation file's categories in id order)",
    )
    parser.add_argument('--classwise', action='store_true', help='also print AP per category')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    return evaluate(args.results, args.ann, args.metric, classes=args.classes, classwise=args.classwise)


if __name__ == '__main__':
    run_tool(main)
