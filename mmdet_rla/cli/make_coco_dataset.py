"""Generate the synthetic shapes dataset in COCO format.

``python tools/misc/make_coco_dataset.py OUT_DIR [--num-train N] [--num-val M] [--size H W] [--seed S]
[--max-objects K]``
writes OUT_DIR/annotations/instances_{train,val}.json and OUT_DIR/{train,val}/*.png (mmdet's
CocoDataset layout). See mmdet_rla/datasets/synthetic_coco.py for what the images hold.
"""

import argparse
import time

from mmdet_rla.datasets.synthetic_coco import CLASSES, generate_coco_dataset
from mmdet_rla.tools_support.arguments import run_tool


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Generate a small synthetic COCO instance dataset')
    parser.add_argument('out_dir', help='dataset root to write')
    parser.add_argument('--num-train', type=int, default=200, help='training images')
    parser.add_argument('--num-val', type=int, default=50, help='validation images')
    parser.add_argument(
        '--size', type=int, nargs=2, default=(160, 160), metavar=('H', 'W'), help='image height and width'
    )
    parser.add_argument('--seed', type=int, default=0, help='seed of the whole dataset')
    parser.add_argument(
        '--max-objects',
        type=int,
        default=4,
        help='most objects per image (each image draws 1..K and keeps those that fit)',
    )
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    start = time.time()
    print(
        f'Generating {args.num_train} train + {args.num_val} val images of {args.size[0]}x{args.size[1]} '
        f'(classes {", ".join(CLASSES)}, up to {args.max_objects} objects each, seed {args.seed}) '
        f'in {args.out_dir}',
        flush=True,
    )
    files = generate_coco_dataset(
        args.out_dir,
        num_train=args.num_train,
        num_val=args.num_val,
        image_size=tuple(args.size),
        seed=args.seed,
        max_objects=args.max_objects,
        progress=lambda line: print(f'  {line}', flush=True),
    )
    print(f'Done in {time.time() - start:.1f} s: ' + ', '.join(files.values()), flush=True)
    return files


if __name__ == '__main__':
    run_tool(main)
