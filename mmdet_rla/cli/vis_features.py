"""Draw what each residual block reads, carries and returns, like RegNet's Fig. 1(a).

``python tools/analysis/vis_features.py CONFIG [CHECKPOINT] --img IMG [--blocks layer2 ...] --out PNG``
(``CONFIG --list-blocks``: the names ``--blocks`` accepts)

For any detector or classifier config of this package (and configs with mmdet's plain ``ResNet``):
one row per selected block, with the block input ``I``, the family's state (RLA ``h``; RNNRegNet ``H``
and, for ConvLSTM, ``C``; none for ResNet and RoR) and the block output ``O``, each drawn over the
image by mmengine's ``Visualizer.draw_featmap``. Without CHECKPOINT the untrained model (seeded with
``--seed``, initialised as training starts) is drawn. ``--vis-backend tensorboard --work-dir DIR``
also sends the picture to TensorBoard.
"""

import argparse
import os
import os.path as osp

import mmcv
from mmengine.visualization import Visualizer

from mmdet_rla.analysis.capture import block_names, select_blocks
from mmdet_rla.analysis.featmaps import CHANNEL_REDUCTIONS, DEFAULT_BLOCKS, block_feature_grid
from mmdet_rla.analysis.inputs import build_model, load_config, prepare_image
from mmdet_rla.tools_support.arguments import CfgOptions, run_tool, unit_interval
from mmdet_rla.tools_support.visualization import VIS_BACKENDS


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Per-block feature maps (I, state, O) over an image')
    parser.add_argument('config', help='detector or classifier config')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint (default: the untrained model)')
    parser.add_argument(
        '--img', help="image file (goes through the config's test pipeline); required unless --list-blocks"
    )
    parser.add_argument(
        '--blocks',
        nargs='+',
        default=list(DEFAULT_BLOCKS),
        help='blocks to draw, one row each: block names (layer2.1), stage names (layer2: all '
        'its blocks) or indices (-1: the last block); default: layer2',
    )
    parser.add_argument('--out', help='output PNG; required unless --list-blocks')
    parser.add_argument('--tile-size', type=int, default=160, help='longer side of each panel in pixels')
    parser.add_argument(
        '--channel-reduction',
        choices=CHANNEL_REDUCTIONS,
        default='squeeze_mean',
        help='mean over channels, or the channel with the largest sum',
    )
    parser.add_argument('--alpha', type=unit_interval, default=0.5, help='weight of the heat map over the image')
    parser.add_argument('--title', help='title above the grid (default: backbone type and checkpoint)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the untrained model')
    parser.add_argument('--list-blocks', action='store_true', help='print the block names and exit')
    parser.add_argument(
        '--vis-backend', choices=sorted(VIS_BACKENDS), help='also send the picture to this backend (needs --work-dir)'
    )
    parser.add_argument('--work-dir', help='where the vis backend writes (vis_data/ under it)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptions, help='override config settings')
    args = parser.parse_args(argv)
    missing = [option for option, value in (('--img', args.img), ('--out', args.out)) if value is None]
    if missing and not args.list_blocks:  # --list-blocks reads neither
        parser.error(f'the following arguments are required: {", ".join(missing)}')
    if args.vis_backend and not args.work_dir:
        parser.error('--vis-backend needs --work-dir')
    return args


def main(argv=None) -> str:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = build_model(cfg, args.checkpoint, seed=args.seed)
    if args.list_blocks:
        print(' '.join(block_names(model)))
        return ''
    prepared = prepare_image(model, cfg, args.img)
    title = args.title or (
        f'{type(model.backbone).__name__}, {osp.basename(args.checkpoint) if args.checkpoint else "untrained"}'
    )
    grid = block_feature_grid(
        model,
        prepared,
        args.blocks,
        tile_size=args.tile_size,
        channel_reduction=args.channel_reduction,
        alpha=args.alpha,
        title=title,
    )
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    mmcv.imwrite(grid[..., ::-1], args.out)  # RGB -> BGR for cv2
    if args.vis_backend:
        visualizer = Visualizer(
            name='vis_features', save_dir=args.work_dir, vis_backends=[dict(type=VIS_BACKENDS[args.vis_backend])]
        )
        visualizer.add_image('block_features', grid)
        visualizer.close()
    drawn = select_blocks(block_names(model), args.blocks)
    print(f'{grid.shape[1]}x{grid.shape[0]} grid of {len(drawn)} blocks ({" ".join(drawn)}) saved to {args.out}')
    return args.out


if __name__ == '__main__':
    run_tool(main)
