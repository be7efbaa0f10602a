"""Speed: RLA-R50, RNNRegNet-50 and RoR-R50 against mmdet's ResNet-50, timed by ``benchmark_backbone.py``.

Each backbone runs in its own process of ``python -m mmdet_rla.cli.benchmark_backbone`` (a crash, an
out-of-memory or a hung compile of one cannot take the self-test with it; ``SPEED_TIMEOUT_S`` bounds
each): a training step (forward + backward) and inference, bf16 autocast, channels-last, eager and
compiled, the model's and the reference's iterations interleaved, CUDA-event timing on a GPU, peak
memory, and with ``--reference-code`` the RLA-Net authors' ``rla_resnet50`` in the RLA run. These
rows are figures (ratios to ResNet-50 with the spread of the per-iteration ratios), not checks.

``--tiny`` times one-stage, narrow versions of the three for two iterations, all in one process (an
import of the stack alone takes 10 s on a busy two-core CPU, and TorchDynamo's tracing of each compiled
model seconds): a smoke run of the same code path, whose ratios mean nothing (every row says so).
"""

import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
from typing import List, Sequence

from .report import Row, figure

# The folder holding the mmdet_rla package this process imported (a checkout's, or site-packages): the child
# process imports the same one.
PACKAGE_PARENT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = ('-m', 'mmdet_rla.cli.benchmark_backbone')
PRESETS = ('rla-r50', 'rnn-regnet50-lstm', 'ror-r50')
VARIANTS = ('eager+channels-last+amp-bf16', 'compiled+channels-last+amp-bf16')
SPEED_TIMEOUT_S = 900
# --tiny: the presets' backbones narrowed to their first stage, against mmdet's ResNet-50 narrowed alike.
_ONE_NARROW_STAGE = dict(depth=50, base_channels=8, num_stages=1, strides=(1,), dilations=(1,), out_indices=(0,))
TINY_BACKBONES = {
    'rla-r50': dict(type='RLAResNet', rla_channels=8, **_ONE_NARROW_STAGE),
    'rnn-regnet50-lstm': dict(type='RNNRegNet', regulator='lstm', **_ONE_NARROW_STAGE),
    'ror-r50': dict(type='RoRResNet', **_ONE_NARROW_STAGE),
}
TINY_REFERENCE = dict(type='ResNet', **_ONE_NARROW_STAGE)


def benchmark_command(context, presets: Sequence[str], json_path: str) -> List[str]:
    """The ``benchmark_backbone.py`` command line that times ``presets`` under the run's settings."""
    cmd = [sys.executable, *TOOL]
    if context.tiny:
        for preset in presets:
            cmd += ['--backbone', repr(TINY_BACKBONES[preset])]
        cmd += ['--reference', repr(TINY_REFERENCE)]
    else:
        cmd += list(presets)
    cmd += [
        '--device',
        str(context.device),
        '--batch',
        str(context.speed_batch),
        '--size',
        str(context.speed_size),
        '--flops-size',
        str(context.speed_size),
        '--iters',
        str(context.speed_iters),
        '--warmup',
        str(context.speed_warmup),
        '--modes',
        'train',
        'eval',
        '--variants',
        *VARIANTS,
        '--compile-backend',
        context.compile_backend,
        '--json',
        json_path,
    ]
    if context.device.type == 'cpu':
        cmd.append('--no-memory')  # the CPU's memory figure needs a process per model and variant: minutes
    if context.reference_code and 'rla-r50' in presets:
        cmd += ['--reference-code', context.reference_code]
    return cmd


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ''


def check_speed(context, presets: Sequence[str]) -> List[Row]:
    """Time ``presets`` in one process of the benchmark; a row per preset, pass, variant (and the authors')."""
    with tempfile.TemporaryDirectory() as tmp:
        json_path = osp.join(tmp, 'speed.json')
        cmd = benchmark_command(context, presets, json_path)
        env = dict(
            os.environ, PYTHONPATH=os.pathsep.join(p for p in (PACKAGE_PARENT, os.environ.get('PYTHONPATH')) if p)
        )
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=SPEED_TIMEOUT_S, env=env)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f'benchmark_backbone.py did not finish within {SPEED_TIMEOUT_S} s') from None
        if done.returncode != 0:
            raise RuntimeError(f'benchmark_backbone.py exited with {done.returncode}: {_last_line(done.stderr)}')
        with open(json_path, encoding='utf-8') as f:
            reports = json.load(f)
    if len(reports) != len(presets):
        raise RuntimeError(f'benchmark_backbone.py reported {len(reports)} backbones for {len(presets)}')
    rows = []
    for preset, report in zip(presets, reports):
        rows += _rows(context, preset, report, cmd)
    return rows


def _rows(context, preset: str, report: dict, cmd: List[str]) -> List[Row]:
    smoke = 'SMOKE RUN (tiny models, few iterations): not a measurement; ' if context.tiny else ''
    rows = []
    for timing in report['timings']:
        variant = timing['variant'].split('+')[0]  # eager / compiled; all are channels-last bf16
        name = f'speed/{preset}/{timing["mode"]}/{variant}'
        memory = ''
        if 'model_peak_mb' in timing:
            memory = (
                f'; memory {timing["model_peak_mb"]:.0f} / {timing["reference_peak_mb"]:.0f} MiB = '
                f'{timing["model_peak_mb"] / max(timing["reference_peak_mb"], 1e-9):.2f}x'
            )
        note = (
            f'{smoke}{timing["model_s"] * 1e3:.1f} vs {timing["reference_s"] * 1e3:.1f} ms (ResNet-50), '
            f'bf16 channels-last, batch {report["batch"]} at {report["size"]}x{report["size"]}, '
            f'{report["timing"]}, {timing["iters"]} interleaved iterations{memory}'
        )
        details = dict(
            timing,
            command=' '.join(cmd[1:]),
            environment={
                k: report.get(k)
                for k in ('device_name', 'timing', 'tf32', 'cudnn_benchmark', 'compile_backend', 'threads')
            },
            params=(report['model_params'], report['reference_params']),
            gflops=(report['model_gflops'], report['reference_gflops']),
        )
        rows.append(
            figure(
                name,
                timing['ratio'],
                f'{timing["ratio"]:.3f} ({timing["ratio_min"]:.2f}-{timing["ratio_max"]:.2f})',
                note=note,
                details=details,
            )
        )
        if 'authors_s' in timing:
            rows.append(
                figure(
                    f'{name}/authors',
                    timing['ours_vs_authors'],
                    f'{timing["ours_vs_authors"]:.3f} ({timing["ours_vs_authors_min"]:.2f}-'
                    f'{timing["ours_vs_authors_max"]:.2f})',
                    note=(
                        f"{smoke}ours / the authors' rla_resnet50 ({timing['authors_s'] * 1e3:.1f} ms, "
                        f'{timing["authors_ratio"]:.3f}x ResNet-50; their classifier, fc included)'
                    ),
                    details=dict(details, authors=report.get('authors')),
                )
            )
    return rows
