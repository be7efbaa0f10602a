"""Plot the training losses of a run: ``python tools/demo/plot_loss.py WORK_DIR [--out loss.png]``.

Reads the ``vis_data/scalars.json`` that mmengine's LocalVisBackend writes under
``WORK_DIR/<timestamp>/`` (the newest run that has one) and plots every ``loss*`` scalar
against the iteration.
"""

import argparse
import glob
import json
import os.path as osp
from typing import Dict, List, Tuple

import matplotlib

matplotlib.use('Agg')  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402

from mmdet_rla.tools_support.arguments import run_tool  # noqa: E402


def find_scalars(work_dir: str) -> str:
    """The newest ``<timestamp>/vis_data/scalars.json`` under ``work_dir`` with training entries."""
    candidates = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')), reverse=True)
    for path in candidates:
        if read_losses(path):
            return path
    raise FileNotFoundError(f'no vis_data/scalars.json with training losses under {work_dir}')


def read_losses(path: str) -> Dict[str, List[Tuple[int, float]]]:
    """``{loss name: [(iteration, value), ...]}`` from an mmengine scalars.json (json lines)."""
    losses: Dict[str, List[Tuple[int, float]]] = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            entry = json.loads(line)
            if 'iter' not in entry:
                continue
            for key, value in entry.items():
                if key.startswith('loss') and isinstance(value, (int, float)):
                    losses.setdefault(key, []).append((int(entry['iter']), float(value)))
    return losses


def plot_losses(losses: Dict[str, List[Tuple[int, float]]], out_file: str, title: str = '') -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for name in sorted(losses, key=lambda n: (n != 'loss', n)):  # the total first, bold
        iters, values = zip(*losses[name])
        ax.plot(iters, values, label=name, linewidth=2.2 if name == 'loss' else 1.2)
    ax.set_xlabel('iteration')
    ax.set_ylabel('loss (logged average)')
    ax.set_title(title or 'training loss')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description='Plot the training losses of an mmengine run')
    parser.add_argument('work_dir', help='work dir of the run (or a scalars.json file)')
    parser.add_argument('--out', help='output PNG (default: WORK_DIR/loss_curve.png)')
    parser.add_argument('--title', default='', help='figure title')
    args = parser.parse_args(argv)
    scalars = args.work_dir if args.work_dir.endswith('.json') else find_scalars(args.work_dir)
    out_file = args.out or osp.join(
        osp.dirname(scalars) if args.work_dir.endswith('.json') else args.work_dir, 'loss_curve.png'
    )
    losses = read_losses(scalars)
    plot_losses(losses, out_file, args.title)
    first, last = losses['loss'][0], losses['loss'][-1]
    print(
        f'loss curve ({len(losses["loss"])} points, loss {first[1]:.3f} at iter {first[0]} -> '
        f'{last[1]:.3f} at iter {last[0]}) saved to {out_file}'
    )
    return out_file


if __name__ == '__main__':
    run_tool(main)
