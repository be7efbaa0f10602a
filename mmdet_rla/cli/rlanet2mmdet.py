"""Convert an RLA-Net checkpoint of the authors' code (github joyfang1106/RLANet) for mmdet_rla.

    python tools/model_converters/rlanet2mmdet.py resnet50_rla_2283.pth.tar \
        checkpoints/rla-resnet50_in1k_official.pth            # backbone for detection configs
    python tools/model_converters/rlanet2mmdet.py resnet50_rla_2283.pth.tar \
        checkpoints/rla-resnet50_in1k_official_cls.pth --cls  # full mmpretrain ImageClassifier
    python tools/model_converters/rlanet2mmdet.py rlav3_resnet50.pth.tar rlav3_cls.pth --cls --arch rlav3_resnet50
    python tools/model_converters/rlanet2mmdet.py faster_rcnn_r50rla_fpn_1x_coco_388.pth \
        checkpoints/faster-rcnn_rla-r50_fpn_1x_coco_official.pth   # their mmdet 2.x detector -> ours

The factory (``--arch``) is read from the keys when only one fits; the Table 6 ablations v1-v6
share the key layout of ``rla_resnet50``, which is taken unless ``--arch`` says otherwise. The key
mapping lives in :mod:`mmdet_rla.converters`. The file is read with
``torch.load(weights_only=True)``; a file that would need arbitrary unpickling is refused.
"""

import argparse
import json
import sys

from mmdet_rla.converters.rlanet import UnsafeCheckpointError, convert_rlanet_checkpoint, factory_names
from mmdet_rla.tools_support.arguments import run_tool


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        'src',
        help="the authors' checkpoint (.pth.tar with a 'state_dict'; a 'module.' prefix is "
        'removed), or one of their mmdet 2.x detector checkpoints',
    )
    parser.add_argument('dst', help='output checkpoint path')
    parser.add_argument(
        '--cls',
        action='store_true',
        help='write a full mmpretrain ImageClassifier checkpoint (backbone.*, head.fc.*) '
        'instead of a detection backbone checkpoint',
    )
    parser.add_argument(
        '--arch',
        metavar='NAME',
        default=None,
        help="the authors' factory the checkpoint was trained with, when the keys cannot tell "
        f'(one of: {", ".join(factory_names())})',
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        meta = convert_rlanet_checkpoint(args.src, args.dst, classifier=args.cls, arch=args.arch)
    except (UnsafeCheckpointError, ValueError, FileNotFoundError) as error:
        print(f'rlanet2mmdet.py: error: {error}', file=sys.stderr)  # the one-line form of every tool
        return 1
    print(f'saved {args.dst}: {meta["arch"]} as {meta["layout"]}')
    if meta['dropped_keys']:
        print(f'dropped {len(meta["dropped_keys"])} keys nothing in this layout reads: {sorted(meta["dropped_keys"])}')
    if meta.get('same_layout_as'):
        print(
            f'the same key layout fits {meta["same_layout_as"]}: pass --arch NAME if the checkpoint comes '
            'from one of those'
        )
    if meta.get('note'):
        print(meta['note'])
    if 'config' in meta:
        print(f'evaluate with: python tools/test.py {meta["config"]} {args.dst}')
    elif 'backbone' in meta:
        print('backbone config (add init_cfg=dict(type="Pretrained", checkpoint=...)):', json.dumps(meta['backbone']))
    else:
        print('model config:', json.dumps(meta['model']))
    return 0


if __name__ == '__main__':
    run_tool(main)
