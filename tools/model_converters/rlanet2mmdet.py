#!/usr/bin/env python
"""Convert an RLA-Net checkpoint of the authors' code (github joyfang1106/RLANet) for mmdet_rla.

    python tools/model_converters/rlanet2mmdet.py resnet50_rla_2283.pth.tar \
        checkpoints/rla-resnet50_in1k_official.pth            # RLAResNet backbone (detection)
    python tools/model_converters/rlanet2mmdet.py resnet50_rla_2283.pth.tar \
        checkpoints/rla-resnet50_in1k_official_cls.pth --cls  # full mmpretrain ImageClassifier

The key mapping lives in :mod:`mmdet_rla.converters.rlanet`. The file is read with
``torch.load(weights_only=True)``; a file that would need arbitrary unpickling is refused.
"""
import argparse
import json
import sys

from mmdet_rla.converters.rlanet import RLA_INPUT_ADVICE, UnsafeCheckpointError, convert_rlanet_checkpoint


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help="the authors' checkpoint (.pth.tar with a 'state_dict'; "
                        "a 'module.' prefix is removed)")
    parser.add_argument('dst', help='output checkpoint path')
    parser.add_argument('--cls', action='store_true',
                        help='write a full mmpretrain ImageClassifier checkpoint (backbone.*, head.fc.*) '
                        'instead of a detection backbone checkpoint')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        meta = convert_rlanet_checkpoint(args.src, args.dst, classifier=args.cls)
    except (UnsafeCheckpointError, ValueError, FileNotFoundError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(f'saved {args.dst} ({meta["layout"]})')
    if meta['dropped_keys']:
        print(f'dropped {len(meta["dropped_keys"])} keys a detection backbone does not use: '
              f'{sorted(meta["dropped_keys"])}')
    print(RLA_INPUT_ADVICE)
    if args.cls:
        print('model config:', json.dumps(meta['model']))
    else:
        print('backbone config (add init_cfg=dict(type="Pretrained", checkpoint=...)):',
              json.dumps(meta['backbone']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
