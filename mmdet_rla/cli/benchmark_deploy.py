"""Deployment timings: onnxruntime against PyTorch inference, and compiled against eager detector steps.

Examples::

    python tools/analysis/benchmark_deploy.py onnx        # demo FCOS at 160x160, Faster R-CNN RLA-R50 at 800x1216
    python tools/analysis/benchmark_deploy.py compile     # demo FCOS train step and test step, Inductor vs eager
    python tools/analysis/benchmark_deploy.py onnx compile --threads 2 --json deploy.json

``onnx``: for each detector (random weights; timings do not depend on them, except the NMS share of
the end-to-end time), the exported network (static shape, batch 1) in onnxruntime and the same network
in PyTorch eager, and end to end: :class:`ONNXRuntimeDetector` (onnxruntime + mmdet post-processing /
RoI stage) against the PyTorch detector's ``predict``. ``compile``: the demo detector's training step
(mmengine's ``train_step``: forward, losses, backward, AdamW step; batch 4 at 160x160) compiled whole with
``torch.compile`` (Inductor) as ``tools/train.py --compile`` does, and with only the backbone compiled (the
fallback), against eager; and its test step with backbone and neck compiled as ``tools/test.py --compile``
does. Compile time (the first two calls, in a fresh Inductor cache unless ``--warm-cache``) is reported apart
from the steady-state step time. Timed runs alternate between the variants (medians), so load on the machine hits
both alike; still, run it on an idle machine, and read the ratios more than the absolute numbers.
"""

import argparse
import copy
import json
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

import torch

from mmdet_rla.config_paths import CONFIG_DIR
from mmdet_rla.tools_support.arguments import compile_backend, non_negative_int, positive_int, run_tool

from .benchmark_backbone import time_interleaved

DEMO_CONFIG = osp.join(CONFIG_DIR, '_demo_', 'fcos_rla-r18-tiny_fpn_gn-head_shapes.py')
FASTER_RCNN_CONFIG = osp.join(CONFIG_DIR, 'rla', 'faster-rcnn_rla-r50_fpn_1x_coco.py')
ONNX_CASES = (
    ('demo FCOS RLA-R18 (tiny)', DEMO_CONFIG, (160, 160)),
    ('Faster R-CNN RLA-R50 FPN', FASTER_RCNN_CONFIG, (800, 1216)),
)
BENCHMARKS = ('onnx', 'compile')


def detector_inputs(model: torch.nn.Module, shape, batch: int = 1) -> dict:
    """A dataloader-like batch of random images of ``shape``, one ground-truth box each.

    ``scale_factor`` becomes a tuple, as mmdet's ``Resize`` writes it (``demo_mm_inputs`` puts a numpy
    array there, which TorchDynamo turns into a tensor and then fails to deep-copy with the metainfo).
    """
    from mmdet.testing import demo_mm_inputs

    num_classes = getattr(getattr(model, 'bbox_head', None), 'num_classes', 80)
    data = demo_mm_inputs(
        batch_size=batch, image_shapes=[(3, *shape)] * batch, num_items=[1] * batch, num_classes=num_classes
    )
    for sample in data['data_samples']:
        sample.set_metainfo(dict(scale_factor=tuple(float(v) for v in sample.metainfo['scale_factor'])))
    return data


def median_times(runs: Dict[str, Callable[[], None]], args: argparse.Namespace) -> Dict[str, float]:
    """The median seconds of each run over ``args.iters`` interleaved iterations (after ``args.warmup``)."""
    samples = time_interleaved(runs, args.iters, args.warmup, torch.device('cpu'))
    return {name: statistics.median(seconds) for name, seconds in samples.items()}


def bench_onnx(args: argparse.Namespace) -> List[dict]:
    from mmdet_rla.deploy import ONNXRuntimeDetector, build_detector, export_model, load_config
    from mmdet_rla.deploy.detector import DetectorNetwork
    from mmdet_rla.deploy.onnx import run_session

    reports = []
    for name, config, shape in ONNX_CASES:
        print(f'[onnx] {name} at {shape[0]}x{shape[1]}: exporting ...', file=sys.stderr, flush=True)
        cfg = load_config(config)
        model = build_detector(cfg, seed=0)
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint, onnx_file = osp.join(tmp, 'model.pth'), osp.join(tmp, 'model.onnx')
            torch.save({'state_dict': model.state_dict()}, checkpoint)
            export_model(cfg, checkpoint, onnx_file, shape=shape)
            runtime = ONNXRuntimeDetector(onnx_file, cfg, checkpoint, num_threads=args.threads)
            network = DetectorNetwork(model).eval()
            data = model.data_preprocessor(detector_inputs(model, shape), False)
            inputs, samples = data['inputs'], data['data_samples']

            def torch_network() -> None:
                with torch.no_grad():
                    network(inputs)

            def torch_predict() -> None:
                with torch.no_grad():
                    model.predict(inputs, copy.deepcopy(samples))

            runs = {
                'pytorch_network': torch_network,
                'onnxruntime_network': lambda: run_session(runtime.session, inputs),
                'pytorch_end_to_end': torch_predict,
                'onnxruntime_end_to_end': lambda: runtime.predict(inputs, copy.deepcopy(samples)),
            }
            print(f'[onnx] {name}: timing ...', file=sys.stderr, flush=True)
            times = median_times(runs, args)
        reports.append(dict(benchmark='onnx', case=name, shape=list(shape), **times))
    return reports


def bench_compile(args: argparse.Namespace) -> List[dict]:
    from mmengine.optim import build_optim_wrapper

    from mmdet_rla.deploy import build_detector, load_config
    from mmdet_rla.deploy.compile import compile_for_inference, compile_module, compile_options

    cfg = load_config(DEMO_CONFIG)
    reports = []
    # Training step: mmengine's train_step on batch 4, eager; compiled whole, as tools/train.py --compile
    # does; and eager with the backbone compiled in place (CompileFallbackHook's fallback).
    models = {kind: build_detector(cfg, seed=0).train() for kind in ('eager', 'compiled', 'backbone_compiled')}
    wrappers = {kind: build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper)) for kind, model in models.items()}
    data = detector_inputs(models['eager'], (160, 160), batch=4)
    steps: Dict[str, Callable] = {kind: model.train_step for kind, model in models.items()}
    steps['compiled'] = torch.compile(models['compiled'].train_step, **compile_options(args.backend))
    compile_module(models['backbone_compiled'].backbone, 'backbone', **compile_options(args.backend))
    first_calls = {}
    for kind in ('compiled', 'backbone_compiled'):
        print(f'[compile] demo FCOS train step ({kind}): compiling ({args.backend}) ...', file=sys.stderr, flush=True)
        start = time.perf_counter()
        steps[kind](data, wrappers[kind])
        steps[kind](data, wrappers[kind])  # a second call compiles what dynamic shapes need
        first_calls[kind] = time.perf_counter() - start
    runs = {kind: (lambda kind=kind: steps[kind](data, wrappers[kind])) for kind in steps}
    times = median_times(runs, args)
    case = 'demo FCOS RLA-R18 train step, batch 4, 160x160'
    reports.append(
        dict(
            benchmark='compile',
            case=f'{case}: whole step compiled (train.py --compile)',
            eager_s=times['eager'],
            compiled_s=times['compiled'],
            first_calls_s=first_calls['compiled'],
        )
    )
    reports.append(
        dict(
            benchmark='compile',
            case=f'{case}: backbone compiled (the fallback)',
            eager_s=times['eager'],
            compiled_s=times['backbone_compiled'],
            first_calls_s=first_calls['backbone_compiled'],
        )
    )
    # Test step: backbone and neck compiled in place, as tools/test.py --compile does.
    models = {kind: build_detector(cfg, seed=0) for kind in ('eager', 'compiled')}
    compile_for_inference(models['compiled'], **compile_options(args.backend))
    data = detector_inputs(models['eager'], (160, 160), batch=8)
    print(f'[compile] demo FCOS test step: compiling ({args.backend}) ...', file=sys.stderr, flush=True)
    start = time.perf_counter()
    with torch.no_grad():
        models['compiled'].test_step(copy.deepcopy(data))
    compile_seconds = time.perf_counter() - start

    def test_step(kind: str) -> None:
        with torch.no_grad():
            models[kind].test_step(copy.deepcopy(data))

    runs = {kind: (lambda kind=kind: test_step(kind)) for kind in models}
    times = median_times(runs, args)
    case = 'demo FCOS RLA-R18 test step, batch 8, 160x160: backbone and neck compiled (test.py --compile)'
    reports.append(
        dict(
            benchmark='compile',
            case=case,
            eager_s=times['eager'],
            compiled_s=times['compiled'],
            first_calls_s=compile_seconds,
        )
    )
    return reports


def format_reports(reports: List[dict], args: argparse.Namespace) -> str:
    lines = [
        f'CPU, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f} at the end, '
        f'median of {args.iters}'
    ]
    onnx = [r for r in reports if r['benchmark'] == 'onnx']
    if onnx:
        lines += [
            '',
            '| detector | input | PyTorch network (s) | onnxruntime network (s) | ratio | '
            'PyTorch end to end (s) | onnxruntime end to end (s) | ratio |',
            '|---|---|---|---|---|---|---|---|',
        ]
        for r in onnx:
            lines.append(
                f'| {r["case"]} | {r["shape"][0]}x{r["shape"][1]} | {r["pytorch_network"]:.4f} | '
                f'{r["onnxruntime_network"]:.4f} | {r["onnxruntime_network"] / r["pytorch_network"]:.2f} | '
                f'{r["pytorch_end_to_end"]:.4f} | {r["onnxruntime_end_to_end"]:.4f} | '
                f'{r["onnxruntime_end_to_end"] / r["pytorch_end_to_end"]:.2f} |'
            )
    compiled = [r for r in reports if r['benchmark'] == 'compile']
    if compiled:
        lines += [
            '',
            f'| step | eager (s) | compiled, {args.backend} (s) | ratio | first two compiled calls (s) |',
            '|---|---|---|---|---|',
        ]
        for r in compiled:
            lines.append(
                f'| {r["case"]} | {r["eager_s"]:.4f} | {r["compiled_s"]:.4f} | '
                f'{r["compiled_s"] / r["eager_s"]:.2f} | {r["first_calls_s"]:.0f} |'
            )
    return '\n'.join(lines)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        'benchmarks', nargs='*', default=list(BENCHMARKS), choices=BENCHMARKS, help='what to measure (default: both)'
    )
    parser.add_argument('--iters', type=positive_int, default=10, help='timed iterations per variant')
    parser.add_argument('--warmup', type=non_negative_int, default=2, help='untimed iterations per variant first')
    parser.add_argument(
        '--threads',
        type=positive_int,
        default=None,
        help='threads of PyTorch and onnxruntime (default: their defaults)',
    )
    parser.add_argument(
        '--backend', type=compile_backend, default='inductor', help='torch.compile backend of the compile benchmark'
    )
    parser.add_argument(
        '--warm-cache',
        action='store_true',
        help="use Inductor's on-disk cache as it is (default: a fresh one, so that the compile "
        'times are those of a first compile)',
    )
    parser.add_argument('--json', help='also write the measurements to this JSON file')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    reports = []
    with tempfile.TemporaryDirectory() as cache:
        if not args.warm_cache:  # read by Inductor when it first needs the cache
            os.environ['TORCHINDUCTOR_CACHE_DIR'] = cache
        if 'onnx' in args.benchmarks:
            reports += bench_onnx(args)
        if 'compile' in args.benchmarks:
            reports += bench_compile(args)
    print(format_reports(reports, args), flush=True)
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(dict(threads=torch.get_num_threads(), load_average=os.getloadavg(), reports=reports), f, indent=2)
    return reports


if __name__ == '__main__':
    run_tool(main)
