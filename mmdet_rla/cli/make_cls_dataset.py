"""Generate the synthetic shapes classification dataset (mmpretrain CustomDataset folder layout).

    python tools/misc/make_cls_dataset.py data/synthetic_cls --train-per-class 60 --val-per-class 20

See :mod:`mmdet_rla.datasets.synthetic_cls` for what the images show.
"""

import argparse
import sys

from mmdet_rla.datasets.synthetic_cls import CLASSES, generate_cls_dataset
from mmdet_rla.tools_support.arguments import run_tool


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out_dir', nargs='?', default='data/synthetic_cls', help='dataset root to write')
    parser.add_argument('--train-per-class', type=int, default=60)
    parser.add_argument('--val-per-class', type=int, default=20)
    parser.add_argument('--image-size', type=int, default=32)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--classes', nargs='+', default=list(CLASSES), help=f'subset of {list(CLASSES)}')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        summary = generate_cls_dataset(
            args.out_dir, args.train_per_class, args.val_per_class, args.image_size, args.seed, args.classes
        )
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(
        f'wrote {summary["num_train"]} training and {summary["num_val"]} validation images of '
        f'{summary["classes"]} ({summary["image_size"]}x{summary["image_size"]}) to {summary["out_dir"]}'
    )
    return 0


if __name__ == '__main__':
    run_tool(main)
