"""Summarise training runs of the same task side by side: loss curves, final metrics, size, time.

``tools/run_compare_demo.sh`` trains the demo detector with four backbones on the same data, seed
and number of iterations; :func:`summarise_run` reads each run's work dir (mmengine's
``vis_data/scalars.json``, the config dumped there, and the ``run_info.json`` the script writes
around ``tools/train.py``), :func:`plot_comparison` draws one figure (loss curves and the final
metric per backbone), :func:`comparison_table` writes the markdown table.
"""

import glob
import json
import math
import os.path as osp
import statistics
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.registry import MODELS

RUN_INFO_FILE = 'run_info.json'


@dataclass
class RunSummary:
    """What one training run produced.

    Attributes:
        label: Name shown in the figure and table.
        losses: ``[(iteration, total loss), ...]`` as logged (mmengine averages over the log interval).
        metrics: The last evaluation's metrics (``{'coco/bbox_mAP': ..., ...}``), empty without one.
        iterations: The last training iteration logged.
        seconds_per_iter: Median of the logged per-iteration times (``time``), ``None`` if none.
        backbone_params, total_params: Parameters of the built model.
        wall_seconds: Wall time of the training command (from ``run_info.json``), ``None`` if absent.
        load_average: ``(at start, at end)`` 1-minute load averages recorded around training.
    """

    label: str
    losses: List[Tuple[int, float]]
    metrics: Dict[str, float]
    iterations: int
    seconds_per_iter: Optional[float]
    backbone_params: int
    total_params: int
    wall_seconds: Optional[float] = None
    load_average: Tuple[Optional[float], Optional[float]] = (None, None)


def read_scalars(work_dir: str) -> List[dict]:
    """The entries of the newest ``<timestamp>/vis_data/scalars.json`` under ``work_dir`` that has any."""
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')), reverse=True):
        with open(path, encoding='utf-8') as f:
            entries = [json.loads(line) for line in f if line.strip()]
        if entries:
            return entries
    raise FileNotFoundError(f'no vis_data/scalars.json with entries under {work_dir} (did training run there?)')


def count_parameters(config: str) -> Tuple[int, int]:
    """``(backbone, whole model)`` parameter counts of ``config``'s model."""
    from .inputs import config_scope, load_config, model_config

    cfg = load_config(config)
    with config_scope(cfg):
        model = MODELS.build(model_config(cfg))
    backbone = getattr(model, 'backbone', model)
    return sum(p.numel() for p in backbone.parameters()), sum(p.numel() for p in model.parameters())


def summarise_run(label: str, config: str, work_dir: str) -> RunSummary:
    """Read the run of ``config`` in ``work_dir`` (see the module docstring)."""
    entries = read_scalars(work_dir)
    train = [e for e in entries if 'loss' in e and 'iter' in e]
    if not train:
        raise ValueError(f'{work_dir}: the run logged no training loss (log interval longer than the run?)')
    evaluations = [e for e in entries if 'loss' not in e and any('/' in k for k in e)]
    metrics = {
        k: float(v)
        for k, v in (evaluations[-1] if evaluations else {}).items()
        if '/' in k and isinstance(v, (int, float))
    }
    times = [float(e['time']) for e in train if 'time' in e]
    backbone_params, total_params = count_parameters(config)
    info = {}
    info_path = osp.join(work_dir, RUN_INFO_FILE)
    if osp.isfile(info_path):
        with open(info_path, encoding='utf-8') as f:
            info = json.load(f)
    return RunSummary(
        label=label,
        losses=[(int(e['iter']), float(e['loss'])) for e in train],
        metrics=metrics,
        iterations=int(train[-1]['iter']),
        seconds_per_iter=statistics.median(times) if times else None,
        backbone_params=backbone_params,
        total_params=total_params,
        wall_seconds=info.get('train_seconds'),
        load_average=(info.get('load_average_start'), info.get('load_average_end')),
    )


def _fmt(value: Optional[float], spec: str) -> str:
    return 'n/a' if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def comparison_table(runs: Sequence[RunSummary], metric_prefix: str = 'coco/bbox_') -> str:
    """A markdown table: metrics, parameters, training time and load average per run."""
    lines = [
        '| backbone | bbox mAP | mAP_50 | mAP_75 | backbone params | detector params | iterations | '
        'training wall time (s) | s/iter (median) | load avg start / end |',
        '|---|---|---|---|---|---|---|---|---|---|',
    ]
    for run in runs:
        maps = ' | '.join(_fmt(run.metrics.get(metric_prefix + key), '.3f') for key in ('mAP', 'mAP_50', 'mAP_75'))
        load = ' / '.join(_fmt(v, '.1f') for v in run.load_average)
        lines.append(
            f'| {run.label} | {maps} | {run.backbone_params:,} | {run.total_params:,} | {run.iterations} | '
            f'{_fmt(run.wall_seconds, ".0f")} | {_fmt(run.seconds_per_iter, ".3f")} | {load} |'
        )
    return '\n'.join(lines) + '\n'


def plot_comparison(
    runs: Sequence[RunSummary], out_file: str, *, metric: str = 'coco/bbox_mAP', title: str = ''
) -> None:
    """One figure: the total training loss of every run (left) and its final ``metric`` (right).

    Raises:
        ValueError: ``metric`` is not among the metrics of the runs' last evaluations (a run without
            one gets an 'n/a' bar).
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    if not runs:
        raise ValueError('runs must hold at least one run summary')
    evaluated = sorted({name for run in runs for name in run.metrics})
    if evaluated and metric not in evaluated:  # runs without an evaluation get an 'n/a' bar instead
        raise ValueError(f"metric {metric!r} is in no run's last evaluation; they have {evaluated}")
    fig, (loss_ax, metric_ax) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100, gridspec_kw=dict(width_ratios=(1.6, 1)))
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for index, run in enumerate(runs):
        iters, losses = zip(*run.losses)
        loss_ax.plot(iters, losses, label=run.label, color=colours[index % len(colours)], linewidth=1.4)
    loss_ax.set_xlabel('iteration')
    loss_ax.set_ylabel('total loss (logged average)')
    loss_ax.set_title('training loss')
    loss_ax.grid(alpha=0.3)
    loss_ax.legend(fontsize=8)
    values = [run.metrics.get(metric, float('nan')) for run in runs]
    bars = metric_ax.bar(
        range(len(runs)),
        [0 if math.isnan(v) else v for v in values],
        color=[colours[i % len(colours)] for i in range(len(runs))],
    )
    for bar, value in zip(bars, values):
        metric_ax.annotate(
            _fmt(value, '.3f'),
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha='center',
            va='bottom',
            fontsize=8,
        )
    metric_ax.set_xticks(range(len(runs)))
    metric_ax.set_xticklabels([run.label for run in runs], rotation=20, ha='right', fontsize=8)
    metric_ax.set_ylabel(metric)
    metric_ax.set_title(f'{metric} after {runs[0].iterations} iterations')
    metric_ax.set_ylim(0, max([v for v in values if not math.isnan(v)] + [1e-3]) * 1.2)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)


__all__ = [
    'RUN_INFO_FILE',
    'RunSummary',
    'comparison_table',
    'count_parameters',
    'plot_comparison',
    'read_scalars',
    'summarise_run',
]
