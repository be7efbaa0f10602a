"""Speed: RLA-R50, RNNRegNet-50 and RoR-R50 against mmdet's ResNet-50, timed by ``benchmark_backbone.py``.

Each backbone runs in its own process of ``tools/analysis/benchmark_backbone.py`` (a crash, an
out-of-memory or a hung compile of one cannot take the self-test with it; ``SPEED_TIMEOUT_S`` bounds
each): a training step (forward + backward) and inference, bf16 autocast, channels-last, eager and
compiled, the model's and the reference's iterations interleaved, CUDA-event timing on a GPU, peak
memory, and with ``--reference-code`` the RLA-Net authors' ``rla_resnet50`` in the RLA run. These
rows are figures (ratios to ResNet-50 with the spread of the per-iteration ratios), not checks.

``--tiny`` times two-stage, narrow versions for two iterations: a smoke run of the same code path,
whose ratios mean nothing (the report says so on every row).
"""
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
from typing import List

from .report import Row, figure

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis', 'benchmark_backbone.py')
PRESETS = ('rla-r50', 'rnn-regnet50-lstm', 'ror-r50')
VARIANTS = ('eager+channels-last+amp-bf16', 'compiled+channels-last+amp-bf16')
SPEED_TIMEOUT_S = 900
# --tiny: the preset's backbone narrowed to two stages, against mmdet's ResNet-50 narrowed alike.
TINY_BACKBONES = {
    'rla-r50': dict(type='RLAResNet', depth=50, base_channels=8, rla_channels=8, num_stages=2, out_indices=(0, 1)),
    'rnn-regnet50-lstm': dict(type='RNNRegNet', depth=50, regulator='lstm', base_channels=8, num_stages=2,
                              out_indices=(0, 1)),
    'ror-r50': dict(type='RoRResNet', depth=50, base_channels=8, num_stages=2, out_indices=(0, 1)),
}
TINY_REFERENCE = dict(type='ResNet', depth=50, base_channels=8, num_stages=2, strides=(1, 2), dilations=(1, 1),
                      out_indices=(0, 1))


def benchmark_command(context, preset: str, json_path: str) -> List[str]:
    """The ``benchmark_backbone.py`` command line of ``preset`` under the run's settings."""
    cmd = [sys.executable, TOOL]
    if context.tiny:
        cmd += ['--backbone', repr(TINY_BACKBONES[preset]), '--reference', repr(TINY_REFERENCE)]
    else:
        cmd += [preset]
    cmd += ['--device', str(context.device), '--batch', str(context.speed_batch), '--size', str(context.speed_size),
            '--flops-size', str(context.speed_size), '--iters', str(context.speed_iters),
            '--warmup', str(context.speed_warmup), '--modes', 'train', 'eval', '--variants', *VARIANTS,
            '--compile-backend', context.compile_backend, '--json', json_path]
    if context.device.type == 'cpu':
        cmd.append('--no-memory')  # the CPU's memory figure needs a process per model and variant: minutes
    if context.reference_code and preset == 'rla-r50':
        cmd += ['--reference-code', context.reference_code]
    return cmd


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ''


def check_speed(context, preset: str) -> List[Row]:
    if not osp.isfile(TOOL):
        raise FileNotFoundError(f'{TOOL} is missing: the speed section runs from a checkout of the repository')
    with tempfile.TemporaryDirectory() as tmp:
        json_path = osp.join(tmp, 'speed.json')
        cmd = benchmark_command(context, preset, json_path)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (REPO, os.environ.get('PYTHONPATH')) if p))
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=SPEED_TIMEOUT_S, env=env, cwd=REPO)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f'benchmark_backbone.py did not finish within {SPEED_TIMEOUT_S} s') from None
        if done.returncode != 0:
            raise RuntimeError(f'benchmark_backbone.py exited with {done.returncode}: {_last_line(done.stderr)}')
        with open(json_path, encoding='utf-8') as f:
            (report, ) = json.load(f)
    smoke = 'SMOKE RUN (tiny models, few iterations): not a measurement; ' if context.tiny else ''
    rows = []
    for timing in report['timings']:
        variant = timing['variant'].split('+')[0]  # eager / compiled; all are channels-last bf16
        name = f"speed/{preset}/{timing['mode']}/{variant}"
        memory = ''
        if 'model_peak_mb' in timing:
            memory = (f"; memory {timing['model_peak_mb']:.0f} / {timing['reference_peak_mb']:.0f} MiB = "
                      f"{timing['model_peak_mb'] / max(timing['reference_peak_mb'], 1e-9):.2f}x")
        note = (f"{smoke}{timing['model_s'] * 1e3:.1f} vs {timing['reference_s'] * 1e3:.1f} ms (ResNet-50), "
                f"bf16 channels-last, batch {report['batch']} at {report['size']}x{report['size']}, "
                f"{report['timing']}, {timing['iters']} interleaved iterations{memory}")
        details = dict(timing, command=' '.join(cmd[1:]), environment={k: report.get(k) for k in (
            'device_name', 'timing', 'tf32', 'cudnn_benchmark', 'compile_backend', 'threads')},
            params=(report['model_params'], report['reference_params']),
            gflops=(report['model_gflops'], report['reference_gflops']))
        rows.append(figure(name, timing['ratio'],
                           f"{timing['ratio']:.3f} ({timing['ratio_min']:.2f}-{timing['ratio_max']:.2f})",
                           note=note, details=details))
        if 'authors_s' in timing:
            rows.append(figure(
                f'{name}/authors', timing['ours_vs_authors'],
                f"{timing['ours_vs_authors']:.3f} ({timing['ours_vs_authors_min']:.2f}-"
                f"{timing['ours_vs_authors_max']:.2f})",
                note=(f"{smoke}ours / the authors' rla_resnet50 ({timing['authors_s'] * 1e3:.1f} ms, "
                      f"{timing['authors_ratio']:.3f}x ResNet-50; their classifier, fc included)"),
                details=dict(details, authors=report.get('authors'))))
    return rows
