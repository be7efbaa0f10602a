"""Parameters, FLOPs, time and peak memory of a backbone against a plain ResNet of the same depth.

Both models are measured in the same run, their timed iterations interleaved so that load on the
machine affects both alike, and every figure is reported with its ratio to the reference. Time
ratios come with their spread: the lowest and highest ratio of the interleaved iteration pairs.

Examples::

    python tools/analysis/benchmark_backbone.py rla-r50
    python tools/analysis/benchmark_backbone.py rla-r50 rnn-regnet50-lstm ror-r50 --batch 8 --size 224
    python tools/analysis/benchmark_backbone.py rla-r50 --compile --channels-last      # 4 variants
    python tools/analysis/benchmark_backbone.py rla-r50 --amp bf16 --reference torchvision
    python tools/analysis/benchmark_backbone.py --backbone "dict(type='RLAResNet', depth=101)"
    python tools/analysis/benchmark_backbone.py rla-r50 --device cuda --batch 32 \
        --variants eager+channels-last+amp-bf16 compiled+channels-last+amp-bf16 --reference-code ~/src/RLANet

Variants: ``--compile`` (``torch.compile``, static shapes, ``--compile-backend``), ``--channels-last``
(model and input in ``torch.channels_last``) and ``--amp fp16|bf16`` (``torch.autocast``) each add a
dimension, and every combination is timed, the reference under the same settings; ``--variants``
names the combinations to time instead. ``--reference`` is ``mmdet`` (mmdet's ``ResNet``/``ResNeXt``,
the default), ``torchvision`` (torchvision's ResNet returning the same four stage outputs) or a
backbone config as a dict literal. ``--reference-code DIR`` also times the RLA-Net authors'
``rla_resnet50`` (their classifier, fc layer included) in the same interleaved run as every
RLA-ResNet-50 config, read from DIR, a checkout or git mirror of github joyfang1106/RLANet, at run time
(:mod:`mmdet_rla.tools_support.rlanet_code`; nothing of theirs is part of this repository); its norms
follow the config's ``norm_eval`` in training passes, as ours do.

Timing: on the CPU, ``time.perf_counter`` around each call; on a GPU, CUDA events recorded on the
current stream around each call, after a synchronisation, so that no queued work of the previous call
is counted and the host's launch overhead is (the figure is the GPU's wall time from the first launch
to the last kernel's end). The report states the device, TF32 (``allow_tf32`` of matrix products and
cuDNN, as set: this tool leaves them at torch's defaults) and ``cudnn.benchmark``.

FLOPs are multiply-accumulates counted by mmengine's analyzer (fvcore's convention, as in the
papers). Memory: on a GPU, ``torch.cuda.max_memory_allocated`` during one more call after the timed
ones, above what was allocated before it (activations, gradients and workspace: the parameters and
inputs are not counted), in the same process; on the CPU it is the rise of the peak resident set
size during the step, measured in a fresh process per model (not for compiled variants on the CPU,
where compilation itself sets the peak).
"""

import argparse
import ast
import contextlib
import copy
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Union

import torch

from mmdet_rla.tools_support.arguments import (
    check_device,
    compile_backend,
    exit_on_user_error,  # noqa: F401  (build_checked's callers use it)
    non_negative_int,  # noqa: F401
    positive_int,
    run_tool,
    user_error_message,
)

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
REFERENCES = ('mmdet', 'torchvision')
AMP_DTYPES = {'fp16': torch.float16, 'bf16': torch.bfloat16}
MODES = {'eval': 'forward', 'train': 'forward+backward'}


class Variant(NamedTuple):
    """How both models run: compiled or eager, memory format, autocast dtype."""

    compiled: bool = False
    channels_last: bool = False
    amp: Optional[str] = None

    @property
    def name(self) -> str:
        parts = ['compiled' if self.compiled else 'eager']
        if self.channels_last:
            parts.append('channels-last')
        if self.amp:
            parts.append(f'amp-{self.amp}')
        return '+'.join(parts)

    def flags(self) -> List[str]:
        """The command-line flags that select exactly this variant."""
        return (
            ['--compile'] * self.compiled
            + ['--channels-last'] * self.channels_last
            + (['--amp', self.amp] if self.amp else [])
        )

    @classmethod
    def parse(cls, name: str) -> 'Variant':
        """The variant called ``name`` (``eager`` or ``compiled``, then ``+channels-last``, ``+amp-<dtype>``)."""
        parts = name.split('+')
        amp = [p[len('amp-') :] for p in parts[1:] if p.startswith('amp-')]
        variant = cls(parts[0] == 'compiled', 'channels-last' in parts[1:], amp[0] if amp else None)
        if variant.name != name or (variant.amp is not None and variant.amp not in AMP_DTYPES):
            raise ValueError(
                f"a variant is 'eager' or 'compiled', then '+channels-last', then '+amp-fp16' or "
                f"'+amp-bf16', in that order, such as 'compiled+channels-last+amp-bf16'; got {name!r}"
            )
        return variant


def variants_of(args: argparse.Namespace) -> List[Variant]:
    """The variants named by ``--variants``, or every combination of the requested settings, eager fp32 first."""
    if getattr(args, 'variants', None):
        return list(args.variants)
    return [
        Variant(*combo)
        for combo in itertools.product(
            [False, True] if args.compile else [False],
            [False, True] if args.channels_last else [False],
            [None, args.amp] if args.amp else [None],
        )
    ]


# --------------------------------------------------------------------------------- models
ModelSpec = Union[dict, str]


def reference_of(cfg: dict, reference: Union[str, dict] = 'mmdet') -> ModelSpec:
    """The plain network of the same depth (and cardinality) as ``cfg`` in ``reference``'s code.

    Returns a backbone config (``'mmdet'`` or a dict given by the user) or ``'torchvision:...'``.
    """
    if isinstance(reference, dict):
        return dict(reference)
    if reference not in REFERENCES:
        raise ValueError(f'--reference must be one of {list(REFERENCES)} or a backbone dict, got {reference!r}')
    if cfg.get('stem_type', 'imagenet') != 'imagenet':
        raise ValueError(
            f'the benchmark compares ImageNet-stem backbones with a plain ResNet; got stem_type={cfg["stem_type"]!r}'
        )
    if 'depth' not in cfg:
        raise ValueError(f'the backbone needs a depth to pick its reference; give --reference as a dict. Got {cfg}')
    if reference == 'torchvision':
        groups, width = cfg.get('groups', 1), cfg.get('base_width', 64)
        return f'torchvision:depth={cfg["depth"]},groups={groups},width={width}'
    ref = dict(type='ResNeXt' if 'groups' in cfg else 'ResNet', depth=cfg['depth'])
    for key in ('groups', 'base_width'):
        if key in cfg:
            ref[key] = cfg[key]
    return ref


class _StageOutputs(torch.nn.Module):
    """torchvision's ResNet returning the outputs of its four stages, as a detection backbone does."""

    def __init__(self, depth: int, groups: int, width: int) -> None:
        super().__init__()
        from torchvision.models import resnet

        layout = {
            18: (resnet.BasicBlock, [2, 2, 2, 2]),
            34: (resnet.BasicBlock, [3, 4, 6, 3]),
            50: (resnet.Bottleneck, [3, 4, 6, 3]),
            101: (resnet.Bottleneck, [3, 4, 23, 3]),
            152: (resnet.Bottleneck, [3, 8, 36, 3]),
        }
        if depth not in layout:
            raise ValueError(f'torchvision reference: depth must be one of {sorted(layout)}, got {depth}')
        block, layers = layout[depth]
        net = resnet.ResNet(block, layers, groups=groups, width_per_group=width)
        self.stem = torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.stages = torch.nn.ModuleList([net.layer1, net.layer2, net.layer3, net.layer4])

    def forward(self, x: torch.Tensor):
        x = self.stem(x)
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return tuple(outs)


AUTHORS_SPEC = 'authors:rla_resnet50'


def is_rla_resnet50(cfg: ModelSpec) -> bool:
    """Whether ``cfg`` is an RLA-ResNet-50 (what the authors' ``rla_resnet50`` is compared with)."""
    return isinstance(cfg, dict) and cfg.get('type') == 'RLAResNet' and cfg.get('depth') == 50


def build(spec: ModelSpec, reference_code: Optional[str] = None) -> torch.nn.Module:
    if spec == AUTHORS_SPEC:
        from mmdet_rla.tools_support.rlanet_code import authors_model

        if reference_code is None:
            raise ValueError(f'{AUTHORS_SPEC} needs --reference-code')
        return authors_model(reference_code, 'rla_resnet50')
    if isinstance(spec, str) and spec.startswith('torchvision:'):
        kwargs = dict(item.split('=') for item in spec[len('torchvision:') :].split(','))
        return _StageOutputs(**{k: int(v) for k, v in kwargs.items()})
    import logging

    from mmengine.logging import MMLogger

    import mmdet_rla  # noqa: F401  (registers the backbones)
    from mmdet_rla.registry import build_model

    model = build_model(dict(spec))
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # no per-parameter init records
    model.init_weights()
    return model


def build_checked(spec: ModelSpec, reference_code: Optional[str] = None) -> torch.nn.Module:
    """:func:`build`; a config it cannot build (an unknown type, a bad argument) raises ``ValueError``
    naming the config, which the command line reports in one line."""
    try:
        return build(spec, reference_code)
    except (KeyError, ValueError, TypeError) as error:
        message = user_error_message(error) if isinstance(error, KeyError) else str(error)
        if message is None:  # a KeyError of a bug, not a registry miss
            raise
        raise ValueError(f'cannot build {spec}: {message}') from error


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
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def prepare(model: torch.nn.Module, variant: Variant, backend: str = 'inductor') -> torch.nn.Module:
    """A copy of ``model`` set up for ``variant`` (the original stays as it is)."""
    model = copy.deepcopy(model)
    if variant.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if variant.compiled:
        model = torch.compile(model, backend=backend)
    return model


def _outputs(outs) -> tuple:
    return (outs,) if isinstance(outs, torch.Tensor) else tuple(outs)


def _norms_eval(model: torch.nn.Module) -> None:
    """Norm layers in eval mode, as mmdet's ``norm_eval=True`` keeps them while training."""
    from torch.nn.modules.batchnorm import _BatchNorm

    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.eval()


def step_fn(
    model: torch.nn.Module, inputs: torch.Tensor, mode: str, variant: Variant = Variant(), norm_eval: bool = False
) -> Callable[[], None]:
    """One forward (``eval``) or forward + backward (``train``) pass under ``variant``; ``norm_eval``
    keeps the norms of a model that knows no ``norm_eval`` (the authors') in eval mode while training."""
    if variant.channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)

    def autocast():
        if variant.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(inputs.device.type, dtype=AMP_DTYPES[variant.amp])

    if mode == 'eval':
        model.eval()

        def run() -> None:
            with torch.no_grad(), autocast():
                model(inputs)
    else:
        model.train()
        if norm_eval:
            _norms_eval(model)

        def run() -> None:
            with autocast():
                outs = model(inputs)
            sum(o.float().mean() for o in _outputs(outs)).backward()
            model.zero_grad(set_to_none=True)

    return run


def time_call(run: Callable[[], None], device: torch.device) -> float:
    """Seconds one call of ``run`` takes: CUDA events on a GPU (after a synchronisation, so nothing queued
    before is counted), ``time.perf_counter`` on the CPU."""
    if device.type == 'cuda':
        with torch.cuda.device(device):  # events and the current stream of this GPU, whichever is current
            _synchronize(device)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1000.0
    start_s = time.perf_counter()
    run()
    return time.perf_counter() - start_s


def time_interleaved(
    runs: Dict[str, Callable[[], None]], iters: int, warmup: int, device: torch.device
) -> Dict[str, List[float]]:
    """Seconds of every call of each run, the runs alternating so drift hits them equally."""
    device = torch.device(device)
    for _ in range(warmup):
        for run in runs.values():
            run()
    samples: Dict[str, List[float]] = {name: [] for name in runs}
    for _ in range(iters):
        for name, run in runs.items():
            samples[name].append(time_call(run, device))
    return samples


def cuda_peak_mb(run: Callable[[], None], device: torch.device) -> float:
    """``torch.cuda.max_memory_allocated`` during one call of ``run``, above what was allocated before, in MiB."""
    _synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    run()
    _synchronize(device)
    return max(torch.cuda.max_memory_allocated(device) - base, 0) / 2**20


def timing_summary(model_s: List[float], reference_s: List[float]) -> dict:
    """Medians and the ratio of the medians, with the range of the per-iteration ratios."""
    pair_ratios = [m / r for m, r in zip(model_s, reference_s)]
    model_median, reference_median = statistics.median(model_s), statistics.median(reference_s)
    return dict(
        model_s=model_median,
        reference_s=reference_median,
        ratio=model_median / reference_median,
        ratio_min=min(pair_ratios),
        ratio_max=max(pair_ratios),
        iters=len(pair_ratios),
    )


def authors_summary(samples: Dict[str, List[float]]) -> dict:
    """The authors' model against the reference (``authors_*``) and ours against theirs (``ours_vs_authors_*``)."""
    theirs = timing_summary(samples['authors'], samples['reference'])
    ours = timing_summary(samples['model'], samples['authors'])
    return dict(
        authors_s=theirs['model_s'],
        authors_ratio=theirs['ratio'],
        authors_ratio_min=theirs['ratio_min'],
        authors_ratio_max=theirs['ratio_max'],
        ours_vs_authors=ours['ratio'],
        ours_vs_authors_min=ours['ratio_min'],
        ours_vs_authors_max=ours['ratio_max'],
    )


# --------------------------------------------------------------------------------- memory
def peak_memory_mb(spec: ModelSpec, mode: str, variant: Variant, args: argparse.Namespace) -> float:
    """Peak memory of one step, in MiB, measured in a fresh process."""
    text = spec if spec == AUTHORS_SPEC else repr(spec)
    cmd = [
        sys.executable,
        '-m',
        'mmdet_rla.cli.benchmark_backbone',
        '--measure-memory',
        text,
        '--mode',
        mode,
        '--batch',
        str(args.batch),
        '--size',
        str(args.size),
        '--device',
        args.device,
        '--compile-backend',
        args.compile_backend,
    ] + variant.flags()
    if spec == AUTHORS_SPEC:
        cmd += ['--reference-code', args.reference_code] + ['--norm-eval'] * args.norm_eval
    # The child imports the same mmdet_rla as this process (a checkout's, without installing, too).
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_parent, os.environ.get('PYTHONPATH')])))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
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


def _measure_memory_here(spec: ModelSpec, mode: str, variant: Variant, args: argparse.Namespace) -> None:
    """The CPU's memory figure (a GPU's is measured in the benchmark's own process, :func:`cuda_peak_mb`)."""
    device = torch.device(args.device)
    model = prepare(build(spec, args.reference_code).to(device), variant, args.compile_backend)
    run = step_fn(
        model, torch.rand(args.batch, 3, args.size, args.size, device=device), mode, variant, norm_eval=args.norm_eval
    )
    if device.type == 'cpu':
        # No warm-up here: the peak resident size only grows, so it must first be reached by the step.
        import psutil

        before = psutil.Process().memory_info().rss
        run()
        peak = _peak_rss_bytes() - before
        print(json.dumps(dict(peak_mb=max(peak, 0) / 2**20)))
    else:
        run()  # allocator warm-up, lazy initialisation, compilation
        print(json.dumps(dict(peak_mb=cuda_peak_mb(run, device))))


# ------------------------------------------------------------------------------ the report
def environment(device: torch.device) -> dict:
    """What the timings depend on besides the models: the device, timing method, TF32 and cuDNN settings."""
    from mmdet_rla.gpu_check.numerics import tf32_state

    if device.type == 'cuda':
        return dict(
            device_name=torch.cuda.get_device_name(device),
            timing='CUDA events',
            tf32=tf32_state(),
            cudnn_benchmark=torch.backends.cudnn.benchmark,
            torch=torch.__version__,
            cuda=torch.version.cuda,
        )
    return dict(device_name='cpu', timing='time.perf_counter', torch=torch.__version__)


def benchmark(cfg: dict, args: argparse.Namespace) -> dict:
    ref_spec = reference_of(cfg, args.reference)
    device = torch.device(args.device)
    if device.type == 'cuda' and device.index is not None:
        torch.cuda.set_device(device)  # what cuDNN, the compiled kernels and the allocator's statistics use
    specs = {'model': cfg, 'reference': ref_spec}
    if args.reference_code and is_rla_resnet50(cfg):
        specs['authors'] = AUTHORS_SPEC
    models = {name: build_checked(spec, args.reference_code).to(device) for name, spec in specs.items()}
    # mmdet's ResNet default: norms in eval mode while training; the authors' model follows the config.
    norm_eval = bool(cfg.get('norm_eval', True))
    report: dict = dict(
        model=cfg,
        reference=ref_spec,
        batch=args.batch,
        size=args.size,
        device=args.device,
        threads=torch.get_num_threads(),
        compile_backend=args.compile_backend,
        **environment(device),
        timings=[],
    )
    if 'authors' in specs:
        report.update(
            authors=f'rla_resnet50 from {args.reference_code} (their classifier, fc included)',
            authors_norm_eval=norm_eval,
        )
    for name, model in models.items():
        report[f'{name}_params'] = sum(p.numel() for p in model.parameters())
        report[f'{name}_gflops'] = count_flops(model, args.flops_size) / 1e9
    inputs = torch.rand(args.batch, 3, args.size, args.size, device=device)
    for variant in variants_of(args):
        prepared = {name: prepare(model, variant, args.compile_backend) for name, model in models.items()}
        for mode in args.modes:
            print(
                f'timing {variant.name} {mode} ({args.iters} interleaved iterations after {args.warmup} warm-up) ...',
                file=sys.stderr,
                flush=True,
            )
            runs = {
                name: step_fn(model, inputs, mode, variant, norm_eval=name == 'authors' and norm_eval)
                for name, model in prepared.items()
            }
            samples = time_interleaved(runs, args.iters, args.warmup, device)
            row = dict(variant=variant.name, mode=mode, **timing_summary(samples['model'], samples['reference']))
            if 'authors' in samples:
                row.update(authors_summary(samples))
            if args.memory and device.type == 'cuda':
                for name, run in runs.items():
                    row[f'{name}_peak_mb'] = cuda_peak_mb(run, device)
            elif args.memory and not variant.compiled:
                for name, spec in specs.items():
                    row[f'{name}_peak_mb'] = peak_memory_mb(spec, mode, variant, args)
            report['timings'].append(row)
            del runs
        del prepared
    return report


def format_report(report: dict) -> str:
    def ratio_row(label: str, key: str, fmt: str) -> str:
        a, b = report[f'model_{key}'], report[f'reference_{key}']
        return f'| {label} | {fmt.format(a)} | {fmt.format(b)} | {a / b:.3f} |'

    settings = f'device {report["device"]} ({report.get("device_name", report["device"])}), '
    if report.get('timing') == 'CUDA events':
        settings += (
            f'CUDA events, TF32 {report["tf32"]}, cudnn.benchmark {report["cudnn_benchmark"]}, '
            f'torch {report["torch"]} (CUDA {report["cuda"]})'
        )
    else:
        settings += f'{report["threads"]} threads'
    lines = [
        f'### {report["model"]} vs {report["reference"]}',
        f'batch {report["batch"]}, {report["size"]}x{report["size"]}, {settings}',
        '',
        '| count | model | reference | ratio |',
        '|---|---|---|---|',
        ratio_row('parameters', 'params', '{:,}'),
        ratio_row('GFLOPs (MACs)', 'gflops', '{:.4f}'),
        '',
        '| variant | pass | model (s) | reference (s) | time ratio | ratio range (per iteration) '
        '| peak memory model / reference (MiB) | memory ratio |',
        '|---|---|---|---|---|---|---|---|',
    ]
    for row in report['timings']:
        memory, memory_ratio = '—', '—'
        if 'model_peak_mb' in row:
            memory = f'{row["model_peak_mb"]:.0f} / {row["reference_peak_mb"]:.0f}'
            memory_ratio = f'{row["model_peak_mb"] / max(row["reference_peak_mb"], 1e-9):.2f}'
        lines.append(
            f'| {row["variant"]} | {MODES[row["mode"]]} | {row["model_s"]:.4f} | {row["reference_s"]:.4f} '
            f'| **{row["ratio"]:.3f}** | {row["ratio_min"]:.3f}–{row["ratio_max"]:.3f} '
            f'({row["iters"]}) | {memory} | {memory_ratio} |'
        )
    if 'authors' in report:
        lines += [
            '',
            f"The authors' {report['authors']}, timed in the same interleaved run "
            f'(norms in eval mode while training: {report["authors_norm_eval"]}; parameters '
            f'{report["authors_params"]:,}, GFLOPs {report["authors_gflops"]:.4f}):',
            '',
            "| variant | pass | authors' (s) | authors' / reference | ours / authors' (per-iteration range) |",
            '|---|---|---|---|---|',
        ]
        for row in report['timings']:
            lines.append(
                f'| {row["variant"]} | {MODES[row["mode"]]} | {row["authors_s"]:.4f} '
                f'| {row["authors_ratio"]:.3f} ({row["authors_ratio_min"]:.3f}–'
                f'{row["authors_ratio_max"]:.3f}) | **{row["ours_vs_authors"]:.3f}** '
                f'({row["ours_vs_authors_min"]:.3f}–{row["ours_vs_authors_max"]:.3f}) |'
            )
    return '\n'.join(lines)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('presets', nargs='*', help=f'one or more of {sorted(PRESETS)}')
    parser.add_argument(
        '--backbone', action='append', default=[], help='a backbone config as a Python dict literal (repeatable)'
    )
    parser.add_argument(
        '--reference',
        default='mmdet',
        help=f'{" or ".join(REFERENCES)} (the plain ResNet/ResNeXt of the same depth in that '
        'code base), or a backbone config as a dict literal',
    )
    parser.add_argument('--batch', type=positive_int, default=8)
    parser.add_argument('--size', type=positive_int, default=224)
    parser.add_argument('--flops-size', type=positive_int, default=224)
    parser.add_argument('--iters', type=positive_int, default=10)
    parser.add_argument('--warmup', type=non_negative_int, default=2)
    parser.add_argument('--modes', nargs='+', default=['train', 'eval'], choices=list(MODES))
    parser.add_argument('--compile', action='store_true', help='also time torch.compile-d models')
    parser.add_argument(
        '--compile-backend',
        type=compile_backend,
        default='inductor',
        help='the torch.compile backend of the compiled variants (default: inductor)',
    )
    parser.add_argument('--channels-last', action='store_true', help='also time channels-last models and inputs')
    parser.add_argument('--amp', choices=sorted(AMP_DTYPES), help='also time under torch.autocast with this dtype')
    parser.add_argument(
        '--variants',
        nargs='+',
        metavar='VARIANT',
        help='time exactly these variants instead of the combinations of --compile, --channels-last '
        "and --amp, e.g. 'eager+channels-last+amp-bf16 compiled+channels-last+amp-bf16'",
    )
    parser.add_argument(
        '--reference-code',
        metavar='DIR',
        help="a checkout or git mirror of the RLA-Net authors' code (github joyfang1106/RLANet): "
        'also time their rla_resnet50 with every RLA-ResNet-50 config',
    )
    parser.add_argument('--no-memory', dest='memory', action='store_false', help='skip peak memory')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help="'cpu' or 'cuda[:index]' (default: cuda where available)",
    )
    parser.add_argument('--json', help='also write the reports to this JSON file')
    parser.add_argument('--measure-memory', help=argparse.SUPPRESS)
    parser.add_argument('--mode', help=argparse.SUPPRESS)
    parser.add_argument('--norm-eval', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variants:
        if args.compile or args.channels_last or args.amp:
            parser.error('--variants names the variants itself: give it without --compile, --channels-last and --amp')
        try:
            args.variants = [Variant.parse(name) for name in args.variants]
        except ValueError as error:
            parser.error(f'--variants: {error}')
    if args.reference_code and not args.measure_memory:
        from mmdet_rla.tools_support.rlanet_code import SourceTree

        try:
            SourceTree(args.reference_code)
        except (ValueError, FileNotFoundError) as error:
            parser.error(str(error))
    unknown = [p for p in args.presets if p not in PRESETS]
    if unknown:
        parser.error(f'unknown preset(s) {unknown}; choose from {sorted(PRESETS)}')
    if not args.presets and not args.backbone and not args.measure_memory:
        parser.error('name at least one preset or --backbone')
    if args.reference not in REFERENCES:
        try:
            args.reference = _literal_dict(args.reference)
        except (ValueError, SyntaxError):
            parser.error(f'--reference must be one of {list(REFERENCES)} or a dict literal, got {args.reference!r}')
    try:
        check_device('--device', args.device)
    except ValueError as error:
        parser.error(str(error))
    if args.measure_memory:
        return args
    args.configs = [PRESETS[p] for p in args.presets]
    for text in args.backbone:
        try:
            args.configs.append(_literal_dict(text))
        except (ValueError, SyntaxError):
            parser.error(
                f'--backbone must be a dict literal such as "dict(type=\'RLAResNet\', depth=101)", got {text!r}'
            )
    for cfg in args.configs:
        try:
            reference_of(cfg, args.reference)
        except ValueError as error:
            parser.error(f'{cfg}: {error}')
    if args.reference_code and not any(is_rla_resnet50(cfg) for cfg in args.configs):
        parser.error(
            "--reference-code: the authors' rla_resnet50 is timed with an RLA-ResNet-50 config; name rla-r50 "
            'or --backbone "dict(type=\'RLAResNet\', depth=50, ...)"'
        )
    return args


def _literal_dict(text: str) -> ModelSpec:
    text = text.strip()
    if text.startswith('torchvision:'):
        return text
    if text.startswith('dict(') and text.endswith(')'):
        # dict(type='X', depth=50) -> {'type': 'X', 'depth': 50}
        call = ast.parse(text, mode='eval').body
        return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    value = ast.literal_eval(text)
    if isinstance(value, str) and value.startswith('torchvision:'):
        return value
    if not isinstance(value, dict):
        raise ValueError(f'expected a dict literal, got {text!r}')
    return value


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if args.measure_memory:
        variant = Variant(args.compile, args.channels_last, args.amp)
        spec = args.measure_memory if args.measure_memory == AUTHORS_SPEC else _literal_dict(args.measure_memory)
        _measure_memory_here(spec, args.mode, variant, args)
        return
    reports = []
    for cfg in args.configs:
        report = benchmark(cfg, args)
        reports.append(report)
        print(format_report(report), flush=True)
        print()
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(reports, f, indent=2, default=str)


if __name__ == '__main__':
    run_tool(main)
