"""Linear probes on the pooled outputs of the last blocks of trained classifiers (RegNet's Fig. 1(b)).

``python tools/analysis/block_probe.py CLS_CONFIG CHECKPOINT [CLS_CONFIG CHECKPOINT ...] [--labels ...]
[--num-blocks 3] [--out probe.png] [--json probe.json]``

For each (config, checkpoint) pair the classifier is frozen, the outputs ``O`` of its last
``--num-blocks`` blocks are global-average pooled over the config's training split (read with the
test pipeline: no augmentation) and test split, and one linear classifier per block is fitted on the
training features and scored on the test features. Prints a table and draws the test accuracies of
all models in one chart. ``--cfg-options`` apply to every config (e.g. the data root).
"""

import argparse
import json
import os
import os.path as osp
from dataclasses import asdict

from mmdet_rla.analysis.inputs import build_model, load_config
from mmdet_rla.analysis.probe import plot_probes, run_block_probes
from mmdet_rla.tools_support.arguments import CfgOptions, run_tool


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Linear probes on the last blocks of trained classifiers')
    parser.add_argument(
        'pairs',
        nargs='+',
        metavar='CLS_CONFIG CHECKPOINT',
        help='classification config and its checkpoint (repeat the pair to compare models)',
    )
    parser.add_argument('--labels', nargs='+', help='one name per model (default: the config file names)')
    parser.add_argument('--num-blocks', type=int, default=3, help='probe the last N blocks (paper: 3)')
    parser.add_argument('--out', default='block_probe.png', help='output PNG')
    parser.add_argument('--json', help='also write the results to this JSON file')
    parser.add_argument('--max-images', type=int, help='use at most this many images per split')
    parser.add_argument('--batch-size', type=int, help="batch size of the feature pass (default: the config's)")
    parser.add_argument('--title', default='', help='chart title')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptions, help='override settings of every config')
    args = parser.parse_args(argv)
    if len(args.pairs) % 2:
        parser.error('give a CHECKPOINT after every CLS_CONFIG (pairs of arguments)')
    args.pairs = list(zip(args.pairs[::2], args.pairs[1::2]))
    if args.labels is None:
        args.labels = [osp.splitext(osp.basename(config))[0] for config, _ in args.pairs]
    if len(args.labels) != len(args.pairs):
        parser.error(f'--labels must give one name per model ({len(args.pairs)}), got {len(args.labels)}')
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    results = {}
    for label, (config, checkpoint) in zip(args.labels, args.pairs):
        cfg = load_config(config, args.cfg_options)
        model = build_model(cfg, checkpoint)
        results[label] = run_block_probes(
            model, cfg, args.num_blocks, max_images=args.max_images, batch_size=args.batch_size
        )
    first = next(iter(results.values()))
    print(
        f'linear probes on pooled block outputs: fitted on {first.num_train} training images, '
        f'top-1 accuracy (%) on {first.num_test} test images'
    )
    width = max(len(label) for label in results) + 2
    print(f'{"model":<{width}}' + ' '.join(f'{name:>10}' for name in first.blocks))
    for label, result in results.items():
        print(f'{label:<{width}}' + ' '.join(f'{acc:>10.1f}' for acc in result.test_accuracy))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    plot_probes(results, args.out, args.title)
    print(f'chart saved to {args.out}')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump({label: asdict(r) for label, r in results.items()}, f, indent=2)
    return results


if __name__ == '__main__':
    run_tool(main)
