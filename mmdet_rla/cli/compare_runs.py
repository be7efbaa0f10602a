"""Compare training runs of the same task: one PNG (loss curves, final bbox mAP) and a markdown table.

``python tools/analysis/compare_runs.py --run LABEL CONFIG WORK_DIR [--run ...] --out PNG [--table MD]``

Each ``--run`` names a run of ``tools/train.py CONFIG --work-dir WORK_DIR`` (ended with a validation);
the table adds parameters (counted on the built model), the median time per iteration, and the wall time
and load average that ``tools/run_compare_demo.sh`` records in ``WORK_DIR/run_info.json``.
"""

import argparse

from mmdet_rla.analysis.compare import comparison_table, plot_comparison, summarise_run
from mmdet_rla.tools_support.arguments import run_tool


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description='Compare training runs: loss curves, bbox mAP, size, time')
    parser.add_argument(
        '--run',
        nargs=3,
        action='append',
        required=True,
        metavar=('LABEL', 'CONFIG', 'WORK_DIR'),
        help='a run to compare (repeat for each)',
    )
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--table', help='also write the markdown table to this file')
    parser.add_argument('--metric', default='coco/bbox_mAP', help='the metric of the bar chart')
    parser.add_argument('--title', default='', help='figure title')
    args = parser.parse_args(argv)
    runs = [summarise_run(label, config, work_dir) for label, config, work_dir in args.run]
    plot_comparison(runs, args.out, metric=args.metric, title=args.title)
    table = comparison_table(runs)
    if args.table:
        with open(args.table, 'w', encoding='utf-8') as f:
            f.write(table)
    print(table, end='')
    print(f'figure saved to {args.out}' + (f', table to {args.table}' if args.table else ''))
    return table


if __name__ == '__main__':
    run_tool(main)
