"""One-command self-test of the package on a GPU (or, ``--device cpu --tiny``, on the CPU at toy sizes).

    bash tools/gpu_check.sh [--out DIR] [--device cuda:N] [--reference-code RLANET_DIR]
    python -m mmdet_rla.gpu_check --device cpu --tiny        # what the test suite runs

Sections (``--only`` / ``--skip``), each check isolated (a failure is reported and the next runs):

- ``ops``: mmcv's ``nms``, ``batched_nms`` and ``RoIAlign`` on the device against the CPU (:mod:`.ops`);
- ``float32``: every backbone family, float32 outputs and gradients against float64 with TF32 off, the
  fast paths included (:mod:`.backbones`);
- ``autocast``: the same under fp16 and bf16 autocast: finite, and within their rounding of float32;
- ``detectors``: one training step of four COCO detectors through mmengine's ``AmpOptimWrapper`` (fp16
  and bf16), finite losses, peak memory against mmdet's backbone (:mod:`.detectors`);
- ``compile``: ``torch.compile`` of every family against eager;
- ``speed``: RLA-R50, RNNRegNet-50 and RoR-R50 against mmdet's ResNet-50, training step and inference,
  bf16 channels-last, eager and compiled (:mod:`.speed`).

The run writes ``report.json`` (every row with its measurements) and ``report.md`` into ``--out``
after every check, and prints the table last. Exit status 0: every check passed; 1: a check failed
(or the run stopped early); 2: bad arguments. Tolerances and why: :mod:`.numerics`.
"""

import argparse
import dataclasses
import os
import os.path as osp
import platform
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from .numerics import tf32, tf32_state
from .report import FAIL, Check, Row, run_checks, summary, table_lines, write_report

# In the order they run: the cheap correctness checks first; compile and speed, whose Inductor compilations
# take most of a GPU run, last (the report is rewritten after every check, so a run cut short keeps the rest).
SECTIONS = ('ops', 'float32', 'autocast', 'detectors', 'compile', 'speed')
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# Sizes of the full run (a GPU; COCO input sizes, the speed benchmark's batch 32) and of --tiny (seconds on a CPU).
SIZES: Dict[str, dict] = {
    'full': dict(
        backbone_batch=2,
        backbone_hw=(224, 224),
        nms_boxes=4000,
        nms_classes=16,
        image_hw=(800, 1344),
        roi_channels=256,
        num_rois=512,
        speed_batch=32,
        speed_size=224,
        speed_iters=20,
        speed_warmup=5,
    ),
    'tiny': dict(
        backbone_batch=2,
        backbone_hw=(64, 64),
        nms_boxes=1000,
        nms_classes=8,
        image_hw=(256, 320),
        roi_channels=16,
        num_rois=64,
        speed_batch=2,
        speed_size=64,
        speed_iters=2,
        speed_warmup=1,
    ),
}


@dataclasses.dataclass
class Context:
    """What every check reads: the device, the sizes and the run's options."""

    device: torch.device
    tiny: bool
    compile_backend: str
    reference_code: Optional[str]
    detector_steps: int
    backbone_batch: int
    backbone_hw: Tuple[int, int]
    nms_boxes: int
    nms_classes: int
    image_hw: Tuple[int, int]
    roi_channels: int
    num_rois: int
    speed_batch: int
    speed_size: int
    speed_iters: int
    speed_warmup: int


def default_compile_backend(device: torch.device, tiny: bool) -> str:
    """Inductor, except for the CPU's tiny run: Inductor generates and compiles C++ there (minutes on two
    cores per model), and even AOTAutograd's joint graphs cost 10-20 s per backbone on a busy two-core
    machine; that run captures with TorchDynamo and runs the graph as PyTorch (``eager``). The test suite
    compiles every backbone variant with ``aot_eager`` (tests/test_compile_export.py)."""
    return 'eager' if tiny and device.type == 'cpu' else 'inductor'


def make_context(
    device: torch.device, tiny: bool, compile_backend: Optional[str] = None, reference_code: Optional[str] = None
) -> Context:
    return Context(
        device=device,
        tiny=tiny,
        compile_backend=compile_backend or default_compile_backend(device, tiny),
        reference_code=reference_code,
        # On a GPU the memory is read in the second step (the first allocates the optimiser's state
        # and workspaces); the CPU has no memory figure.
        detector_steps=2 if device.type == 'cuda' else 1,
        **SIZES['tiny' if tiny else 'full'],
    )


def build_checks(sections: Sequence[str], tiny: bool = False) -> List[Check]:
    """The checks of ``sections``, in the order they run."""
    from . import backbones, detectors, ops, speed

    checks: List[Check] = []
    if 'ops' in sections:
        checks += [
            Check('ops/nms', 'ops', ops.check_nms),
            Check('ops/batched_nms', 'ops', ops.check_batched_nms),
            Check('ops/roi_align', 'ops', ops.check_roi_align),
        ]
    families = list(backbones.FAMILIES)
    if 'float32' in sections:
        checks += [Check(f'backbone/{f}/float32', 'float32', _bind(backbones.check_float32, f)) for f in families]
    if 'autocast' in sections:
        checks += [
            Check(f'backbone/{f}/{amp}', 'autocast', _bind(backbones.check_autocast, f, amp))
            for f in families
            for amp in ('amp-fp16', 'amp-bf16')
        ]
    if 'detectors' in sections:
        checks += [
            Check(f'detector/{d}/{amp}', 'detectors', _bind(detectors.check_detector, d, amp))
            for d in detectors.DETECTORS
            for amp in ('amp-fp16', 'amp-bf16')
        ]
    if 'compile' in sections:
        checks += [Check(f'compile/{f}', 'compile', _bind(backbones.check_compile, f)) for f in families]
    if 'speed' in sections:
        if tiny:  # one process for the three: see mmdet_rla.gpu_check.speed
            checks.append(Check('speed', 'speed', _bind(speed.check_speed, speed.PRESETS)))
        else:
            checks += [Check(f'speed/{p}', 'speed', _bind(speed.check_speed, (p,))) for p in speed.PRESETS]
    return checks


def _bind(fn, *args):
    def run(context):
        return fn(context, *args)

    return run


# ------------------------------------------------------------------------------------ environment
def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except Exception as error:  # noqa: BLE001  (a missing or broken install is itself worth reporting)
        return f'unavailable ({type(error).__name__})'


def _cpu_name() -> str:
    try:
        with open('/proc/cpuinfo', encoding='ascii', errors='replace') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _nvidia_driver() -> str:
    try:
        done = subprocess.run(
            ['nvidia-smi', '--query-gpu=driver_version', '--format=csv,noheader'],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else 'unknown'
    except (OSError, subprocess.SubprocessError):
        return 'unknown (no nvidia-smi)'


def _git_commit() -> str:
    try:
        done = subprocess.run(
            ['git', '-C', REPO, 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, timeout=10
        )
        return done.stdout.strip() or 'unknown'
    except (OSError, subprocess.SubprocessError):
        return 'unknown'


def environment(device: torch.device) -> Dict[str, object]:
    """The device, the versions and the numerical settings the checks ran under."""
    import mmdet_rla

    env: Dict[str, object] = {}
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        env['device'] = (
            f'{device} = {props.name} (compute capability {props.major}.{props.minor}, '
            f'{props.total_memory / 2**30:.0f} GiB)'
        )
        env['CUDA (torch build)'] = torch.version.cuda
        env['cuDNN'] = torch.backends.cudnn.version()
        env['NVIDIA driver'] = _nvidia_driver()
        env['host CPU'] = f'{_cpu_name()}, {torch.get_num_threads()} threads'
    else:
        env['device'] = f'cpu = {_cpu_name()}, {torch.get_num_threads()} threads'
    env['python'] = platform.python_version()
    env['torch'] = torch.__version__
    env['torchvision'] = _version('torchvision')
    try:
        from mmcv.ops import get_compiler_version, get_compiling_cuda_version

        env['mmcv'] = (
            f'{_version("mmcv")} (ops compiled with CUDA: {get_compiling_cuda_version()}, '
            f'compiler: {get_compiler_version()})'
        )
    except Exception as error:  # noqa: BLE001
        env['mmcv'] = f'{_version("mmcv")} (no compiled ops: {type(error).__name__})'
    env['mmengine'] = _version('mmengine')
    env['mmdet'] = _version('mmdet')
    env['mmpretrain'] = _version('mmpretrain')
    env['mmdet_rla'] = f'{mmdet_rla.__version__} (commit {_git_commit()})'
    env['TF32 during the checks'] = tf32_state()
    env['cudnn.benchmark'] = torch.backends.cudnn.benchmark
    if device.type == 'cpu':
        from mmdet_rla.ops import fused_available, unavailable_reason

        try:
            available = fused_available()
        except Exception as error:  # noqa: BLE001
            available, reason = False, f'{type(error).__name__}: {error}'
        else:
            reason = unavailable_reason()
        env['fused ConvLSTM kernel (CPU)'] = 'in use' if available else f'not used ({reason})'
    return env


# ------------------------------------------------------------------------------------ command line
def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    from mmdet_rla.tools_support.arguments import check_device, compile_backend

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        '--out',
        default=osp.join('work_dirs', 'gpu_check'),
        help='folder of report.json and report.md (default: work_dirs/gpu_check)',
    )
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help="'cuda', 'cuda:<index>' or 'cpu' (default: cuda where available)",
    )
    parser.add_argument(
        '--tiny',
        action='store_true',
        help='toy sizes: the same checks in about a minute on a CPU (what the test suite runs)',
    )
    parser.add_argument(
        '--only', nargs='+', choices=SECTIONS, metavar='SECTION', help=f'run only these sections, of {list(SECTIONS)}'
    )
    parser.add_argument(
        '--skip', nargs='+', choices=SECTIONS, default=[], metavar='SECTION', help='leave these sections out'
    )
    parser.add_argument(
        '--compile-backend',
        type=compile_backend,
        help='torch.compile backend of the compile and speed sections (default: inductor; '
        "eager, i.e. TorchDynamo's capture alone, for --tiny on the CPU)",
    )
    parser.add_argument(
        '--reference-code',
        metavar='DIR',
        help="a checkout or git mirror of the RLA-Net authors' code (github joyfang1106/RLANet): "
        'the speed section also times their rla_resnet50',
    )
    parser.add_argument('--list', action='store_true', help='print the checks that would run, and exit')
    args = parser.parse_args(argv)
    try:
        args.device = check_device('--device', args.device)
    except ValueError as error:
        parser.error(str(error))
    if args.reference_code:
        from mmdet_rla.tools_support.rlanet_code import SourceTree

        try:
            SourceTree(args.reference_code)
        except (ValueError, FileNotFoundError) as error:
            parser.error(str(error))
    args.sections = [s for s in (args.only or SECTIONS) if s not in args.skip]
    if not args.sections:
        parser.error(f'--only and --skip leave no section to run (sections: {list(SECTIONS)})')
    return args


def _progress(index: int, total: int, row: Row) -> str:
    status = {'pass': 'PASS', 'fail': 'FAIL', 'n/a': 'n/a '}[row.status]
    tail = row.reason if row.status == FAIL else row.text
    return f'[{index + 1:>2}/{total}] {status} {row.name}  {tail}  ({row.seconds:.1f} s)'


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    device = args.device
    checks = build_checks(args.sections, args.tiny)
    if args.list:
        print('\n'.join(f'{c.section:10} {c.name}' for c in checks))
        return 0
    if device.type == 'cuda' and device.index is not None:
        torch.cuda.set_device(device)
    context = make_context(device, args.tiny, args.compile_backend, args.reference_code)
    settings = dict(
        sections=args.sections,
        tiny=args.tiny,
        compile_backend=context.compile_backend,
        reference_code=args.reference_code or 'not given',
        sizes=SIZES['tiny' if args.tiny else 'full'],
        command='gpu_check ' + ' '.join(sys.argv[1:] if argv is None else argv),
    )
    notes = [
        'float32 and compile checks ran with TF32 off (matrix products and cuDNN); the speed section runs '
        "in its own processes with torch's defaults, stated in its rows' details.",
        'Tolerances and why: mmdet_rla/gpu_check/numerics.py; what each check does: docs/gpu.md.',
    ]
    if args.tiny:
        notes.append('--tiny: toy sizes; the speed rows are a smoke run of the benchmark, not measurements.')
    start = time.perf_counter()
    rows: List[Row] = []
    print(
        f'gpu_check: {len(checks)} checks on {device} ({"tiny" if args.tiny else "full"} sizes); report in '
        f'{os.path.abspath(args.out)}',
        flush=True,
    )
    if device.type == 'cpu' and not args.tiny and {'autocast', 'detectors'} & set(args.sections):
        print(
            'gpu_check: full sizes on the CPU: CPUs have no fast fp16 convolutions, so the fp16 autocast and '
            'detector checks take hours here (add --tiny for toy sizes)',
            file=sys.stderr,
            flush=True,
        )
    with tf32(False):
        env = environment(device)
        write_report(args.out, env, settings, rows, finished=False, notes=notes)

        def on_row(index: int, row: Row) -> None:
            row.details.setdefault('device', env['device'])
            rows.append(row)
            print(_progress(index, len(checks), row), flush=True)
            write_report(args.out, env, settings, rows, finished=False, notes=notes)

        run_checks(checks, context, on_row)
    settings['seconds'] = round(time.perf_counter() - start, 1)
    write_report(args.out, env, settings, rows, finished=True, notes=notes)
    counts = summary(rows)
    print('\n' + '\n'.join(f'{key}: {value}' for key, value in env.items()))
    print('\n' + '\n'.join(table_lines(rows)))
    print(
        f'\n{counts["pass"]} passed, {counts["fail"]} failed, {counts["n/a"]} not measurable here, in '
        f'{settings["seconds"]:.0f} s. Report: {os.path.join(os.path.abspath(args.out), "report.md")}',
        flush=True,
    )
    return 1 if counts['fail'] else 0


__all__ = ['main', 'parse_args', 'build_checks', 'make_context', 'Context', 'SECTIONS', 'SIZES']
