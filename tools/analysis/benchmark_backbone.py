"""Parameters, FLOPs, time and peak memory of a backbone against mmdet's ResNet of the same depth.

Both models are measured in the same run, their timed iterations interleaved so that load on the
machine affects both alike, and every figure is reported with its ratio to the reference.

Examples::

    python tools/analysis/benchmark_backbone.py rla-r50
    python tools/analysis/benchmark_backbone.py rla-r50 rnn-regnet50-lstm ror-r50 --batch 8 --size 224
    python tools/analysis/benchmark_backbone.py --backbone "dict(type='RLAResNet', depth=101)"

FLOPs are multiply-accumulates counted by mmengine's analyzer (fvcore's convention, as in the
papers). Memory is the peak of ``torch.cuda.max_memory_allocated`` on a GPU; on the CPU it is the
rise of the peak resident set size during the step, measured in a fresh process per model.
"""
import argparse
import ast
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

import torch

PRESETS: Dict[str, dict] = {
    'rla-r50': dict(type='RLAResNet', depth=50),
    'rla-r101': dict(type='RLAResNet', depth=101),
    'rla-eca-r50': dict(type='RLAResNet', depth=50, channel_attention='eca'),
    'rnn-regnet50-lstm': dict(type='RNNRegNet', depth=50, regulator='lstm'),
    'rnn-regnet50-gru': dict(type='RNNRegNet', depth=50, regulator='gru'),
    'ror-r50': dict(type='RoRResNet', depth=50),
    'ror-r101': dict(type='RoRResNet', depth=101),
    'ror-x101': dict(type='RoRResNeXt', depth=101, groups=32, base_width=4),
}


def reference_of(cfg: dict) -> dict:
    """mmdet's plain network of the same depth (and cardinality) as ``cfg``."""
    ref = dict(type='ResNeXt' if 'groups' in cfg else 'ResNet', depth=cfg['depth'])
    for key in ('groups', 'base_width', 'stem_type'):
        if key in cfg and key != 'stem_type':
            ref[key] = cfg[key]
    if cfg.get('stem_type', 'imagenet') != 'imagenet':
        raise ValueError('the benchmark compares ImageNet-stem backbones with mmdet ResNet; '
                         f"got stem_type={cfg['stem_type']!r}")
    return ref


def build(cfg: dict) -> torch.nn.Module:
    import logging

    from mmengine.logging import MMLogger

    import mmdet_rla  # noqa: F401  (registers the backbones)
    from mmdet_rla.registry import build_model
    model = build_model(dict(cfg))
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # no per-parameter init records
    model.init_weights()
    return model


def count_flops(model: torch.nn.Module, size: int) -> int:
    from mmengine.analysis import FlopAnalyzer
    model.eval()
    with torch.no_grad():
        analyzer = FlopAnalyzer(model, torch.rand(1, 3, size, size, device=_device_of(model)))
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(analyzer.total())


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _synchronize(device: torch.device) -> None:
    if device.type != 'cpu':
        torch.cuda.synchronize(device)


def step_fn(model: torch.nn.Module, inputs: torch.Tensor, mode: str) -> Callable[[], None]:
    """One forward (``eval``) or forward + backward (``train``) pass."""
    if mode == 'eval':
        model.eval()

        def run() -> None:
            with torch.no_grad():
                model(inputs)
    else:
        model.train()

        def run() -> None:
            outs = model(inputs)
            sum(o.float().mean() for o in outs).backward()
            model.zero_grad(set_to_none=True)
    return run


def time_interleaved(runs: Dict[str, Callable[[], None]], iters: int, warmup: int,
                     device: torch.device) -> Dict[str, float]:
    """Median seconds per call of each run, the runs alternating so drift hits them equally."""
    for _ in range(warmup):
        for run in runs.values():
            run()
    samples: Dict[str, List[float]] = {name: [] for name in runs}
    for _ in range(iters):
        for name, run in runs.items():
            _synchronize(device)
            start = time.perf_counter()
            run()
            _synchronize(device)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def peak_memory_mb(cfg: dict, mode: str, batch: int, size: int, device: str) -> float:
    """Peak memory of one step, in MiB, measured in a fresh process."""
    cmd = [sys.executable, os.path.abspath(__file__), '--measure-memory', repr(cfg), '--mode', mode,
           '--batch', str(batch), '--size', str(size), '--device', device]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])['peak_mb'])


def _peak_rss_bytes() -> int:
    """Peak resident set size of this process image.

    Linux's ``VmHWM`` belongs to the address space created by ``exec``; ``ru_maxrss`` would instead
    carry over the (large) peak of the benchmark process that forked this one.
    """
    try:
        with open('/proc/self/status', encoding='ascii') as status:
            for line in status:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _measure_memory_here(cfg: dict, mode: str, batch: int, size: int, device: str) -> None:
    model = build(cfg).to(device)
    inputs = torch.rand(batch, 3, size, size, device=device)
    run = step_fn(model, inputs, mode)
    if device == 'cpu':
        # No warm-up here: the peak resident size only grows, so it must first be reached by the step.
        import psutil
        before = psutil.Process().memory_info().rss
        run()
        peak = _peak_rss_bytes() - before
    else:
        run()  # allocator warm-up, lazy initialisation
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        run()
        peak = torch.cuda.max_memory_allocated(device) - base
    print(json.dumps(dict(peak_mb=max(peak, 0) / 2**20)))


def benchmark(cfg: dict, args: argparse.Namespace) -> dict:
    ref_cfg = reference_of(cfg)
    device = torch.device(args.device)
    models = {'model': build(cfg).to(device), 'reference': build(ref_cfg).to(device)}
    report: dict = dict(model=cfg, reference=ref_cfg)
    for name, model in models.items():
        report[f'{name}_params'] = sum(p.numel() for p in model.parameters())
        report[f'{name}_gflops'] = count_flops(model, args.flops_size) / 1e9
    inputs = torch.rand(args.batch, 3, args.size, args.size, device=device)
    for mode in args.modes:
        print(f'timing {mode} ({args.iters} interleaved iterations after {args.warmup} warm-up) ...',
              file=sys.stderr, flush=True)
        runs = {name: step_fn(model, inputs, mode) for name, model in models.items()}
        times = time_interleaved(runs, args.iters, args.warmup, device)
        for name, seconds in times.items():
            report[f'{name}_{mode}_s'] = seconds
        if args.memory:
            for name, model_cfg in (('model', cfg), ('reference', ref_cfg)):
                report[f'{name}_{mode}_peak_mb'] = peak_memory_mb(
                    model_cfg, mode, args.batch, args.size, args.device)
    return report


def format_report(report: dict, args: argparse.Namespace) -> str:
    def row(label: str, key: str, fmt: str) -> str:
        a, b = report[f'model_{key}'], report[f'reference_{key}']
        return f'| {label} | {fmt.format(a)} | {fmt.format(b)} | {a / b:.3f} |'

    lines = [f"### {report['model']} vs {report['reference']}",
             f'batch {args.batch}, {args.size}x{args.size}, device {args.device}, '
             f'{torch.get_num_threads()} threads; FLOPs at 1x3x{args.flops_size}x{args.flops_size}',
             '', '| metric | model | reference | ratio |', '|---|---|---|---|',
             row('parameters', 'params', '{:,}'), row('GFLOPs (MACs)', 'gflops', '{:.4f}')]
    names = {'eval': 'forward', 'train': 'forward+backward'}
    for mode in args.modes:
        lines.append(row(f'{names[mode]} time (s)', f'{mode}_s', '{:.4f}'))
        if args.memory:
            lines.append(row(f'{names[mode]} peak memory (MiB)', f'{mode}_peak_mb', '{:.1f}'))
    return '\n'.join(lines)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('presets', nargs='*', help=f'one or more of {sorted(PRESETS)}')
    parser.add_argument('--backbone', action='append', default=[],
                        help='a backbone config as a Python dict literal (repeatable)')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--flops-size', type=int, default=224)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--modes', nargs='+', default=['train', 'eval'], choices=['train', 'eval'])
    parser.add_argument('--no-memory', dest='memory', action='store_false', help='skip peak memory')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--json', help='also write the reports to this JSON file')
    parser.add_argument('--measure-memory', help=argparse.SUPPRESS)
    parser.add_argument('--mode', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = [p for p in args.presets if p not in PRESETS]
    if unknown:
        parser.error(f'unknown preset(s) {unknown}; choose from {sorted(PRESETS)}')
    if not args.presets and not args.backbone and not args.measure_memory:
        parser.error('name at least one preset or --backbone')
    return args


def _literal_dict(text: str) -> dict:
    text = text.strip()
    if text.startswith('dict(') and text.endswith(')'):
        # dict(type='X', depth=50) -> {'type': 'X', 'depth': 50}
        call = ast.parse(text, mode='eval').body
        return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    return ast.literal_eval(text)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if args.measure_memory:
        _measure_memory_here(_literal_dict(args.measure_memory), args.mode, args.batch, args.size,
                             args.device)
        return
    configs = [PRESETS[p] for p in args.presets] + [_literal_dict(b) for b in args.backbone]
    reports = []
    for cfg in configs:
        report = benchmark(cfg, args)
        reports.append(report)
        print(format_report(report, args), flush=True)
        print()
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(reports, f, indent=2, default=str)


if __name__ == '__main__':
    main()
