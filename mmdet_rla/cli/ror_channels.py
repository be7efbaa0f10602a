"""The Refine-or-Represent configuration of a RoR backbone and, from a checkpoint, how it is used.

``python tools/analysis/ror_channels.py CONFIG [CHECKPOINT] [--img IMG ...] --out PNG [--json J]``

Top: which output channels of which block are Represent (no shortcut) and which Refine. Bottom (with
``--img``): per block, the root-mean-square of the residual ``F(x)`` on the Refine and on the
Represent channels over the given images (through the config's test pipeline). Without CHECKPOINT
the untrained model (seeded with ``--seed``) is measured: its masks are the config's seeded ones.
"""

import argparse
import json
import os
import os.path as osp

from mmdet_rla.analysis.inputs import build_model, load_config, prepare_image
from mmdet_rla.analysis.ror import channel_configuration, plot_ror_channels, residual_channel_norms
from mmdet_rla.tools_support.arguments import CfgOptions, run_tool


def main(argv=None) -> list:
    parser = argparse.ArgumentParser(description='RoR channel configuration and residual norms per block')
    parser.add_argument('config', help='a config with a RoRResNet / RoRResNeXt backbone')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint (default: the untrained model)')
    parser.add_argument('--img', nargs='+', help='images to measure the residual norms on')
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--json', help='also write the per-block numbers to this JSON file')
    parser.add_argument('--title', default='', help='figure title')
    parser.add_argument('--seed', type=int, default=0, help='seed of the untrained model')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptions, help='override config settings')
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = build_model(cfg, args.checkpoint, seed=args.seed)
    if args.img:
        blocks = residual_channel_norms(model, (prepare_image(model, cfg, path).inputs for path in args.img))
    else:
        blocks = channel_configuration(model)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    plot_ror_channels(blocks, args.out, args.title)
    fmt = lambda v: '-' if v is None else f'{v:.4f}'  # noqa: E731
    print(f'{"block":<10} {"represent/all":>14} {"refine RMS":>11} {"represent RMS":>14}')
    for b in blocks:
        print(
            f'{b.name:<10} {f"{len(b.represent_channels)}/{len(b.refine)}":>14} {fmt(b.refine_rms):>11} '
            f'{fmt(b.represent_rms):>14}'
        )
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(
                [
                    dict(
                        name=b.name,
                        channels=len(b.refine),
                        represent_channels=b.represent_channels,
                        refine_rms=b.refine_rms,
                        represent_rms=b.represent_rms,
                    )
                    for b in blocks
                ],
                f,
                indent=1,
            )
    print(f'saved to {args.out}')
    return blocks


if __name__ == '__main__':
    run_tool(main)
