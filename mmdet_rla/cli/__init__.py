"""The command-line tools, installed with the package: ``mmdet-rla TOOL ARGS...`` or ``python -m mmdet_rla.cli.TOOL``.

Each tool is a module of this package with ``main(argv=None)``; ``tools/*.py`` in a source checkout are thin
wrappers that run the same ``main`` (same command lines, same output). ``mmdet-rla`` (the console script,
also ``python -m mmdet_rla.cli``) dispatches to them by name: ``mmdet-rla train CONFIG``,
``mmdet-rla --help`` lists them. Config arguments accept ``mmdet_rla::<path under configs/>``
(:func:`mmdet_rla.config_path`).

Adding a tool: write ``mmdet_rla/cli/<name>.py`` with ``main(argv=None)`` ending in
``if __name__ == '__main__': run_tool(main)``, and add ``'<name with dashes>': '<one-line summary>'`` to
:data:`TOOLS`.
"""

import importlib
import os
import sys
from typing import Dict, List, Optional

PROG = 'mmdet-rla'

# Subcommand -> one-line summary. The module is mmdet_rla.cli.<subcommand with '-' as '_'>.
TOOLS: Dict[str, str] = {
    'train': 'train a detector or classifier from a config (tools/train.py)',
    'test': 'test and evaluate a checkpoint (tools/test.py)',
    'dist-train': 'distributed training with torchrun (tools/dist_train.sh CONFIG GPUS ...)',
    'dist-test': 'distributed testing with torchrun (tools/dist_test.sh CONFIG CHECKPOINT GPUS ...)',
    'slurm-train': 'training on a Slurm cluster (tools/slurm_train.sh PARTITION JOB CONFIG WORK_DIR ...)',
    'slurm-test': 'testing on a Slurm cluster (tools/slurm_test.sh PARTITION JOB CONFIG CHECKPOINT ...)',
    'rlanet2mmdet': "convert an RLA-Net checkpoint of the authors' code (tools/model_converters/rlanet2mmdet.py)",
    'export-onnx': 'export a detector or its backbone to ONNX (tools/deployment/export_onnx.py)',
    'test-onnx': 'test an exported detector with onnxruntime (tools/deployment/test_onnx.py)',
    'benchmark-backbone': 'parameters, FLOPs, time and memory against a plain ResNet '
    '(tools/analysis/benchmark_backbone.py)',
    'benchmark-deploy': 'onnxruntime and torch.compile timings (tools/analysis/benchmark_deploy.py)',
    'coco-eval': 'COCO evaluation of saved detections (tools/analysis/coco_eval.py)',
    'compare-runs': 'compare training runs: loss curves, mAP, size, time (tools/analysis/compare_runs.py)',
    'vis-features': 'per-block feature maps over an image (tools/analysis/vis_features.py)',
    'block-probe': 'linear probes on the last blocks of classifiers (tools/analysis/block_probe.py)',
    'ror-channels': "a RoR backbone's channel configuration and residual norms (tools/analysis/ror_channels.py)",
    'draw-detections': "draw a detector's predictions and the ground truth (tools/demo/draw_detections.py)",
    'eval-untrained': "evaluate a config's model before training (tools/demo/eval_untrained.py)",
    'plot-loss': 'plot the training losses of a run (tools/demo/plot_loss.py)',
    'fingerprint': "print a training run's fingerprint (tools/demo/fingerprint.py)",
    'make-coco-dataset': 'generate the synthetic shapes detection dataset (tools/misc/make_coco_dataset.py)',
    'make-cls-dataset': 'generate the synthetic shapes classification dataset (tools/misc/make_cls_dataset.py)',
    'gpu-check': 'self-test on a GPU: mmcv ops, numerics, AMP detector steps, compile, speed (tools/gpu_check.sh)',
}


def module_name(tool: str) -> str:
    """The module that implements subcommand ``tool``."""
    return f'{__name__}.{tool.replace("-", "_")}'


def usage() -> str:
    width = max(map(len, TOOLS)) + 2
    lines = [
        f'usage: {PROG} TOOL [ARGS...]   ({PROG} TOOL --help: the arguments of TOOL)',
        '',
        'Tools of mmdet_rla (each also runs as python -m mmdet_rla.cli.TOOL, with _ for -):',
    ]
    lines += [f'  {name:<{width}}{summary}' for name, summary in TOOLS.items()]
    lines += [
        '',
        'Config arguments take file paths or mmdet_rla::<path under configs/>,',
        '  e.g. mmdet_rla::_demo_/fcos_rla-r18-tiny_fpn_gn-head_shapes.py',
    ]
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    """``mmdet-rla TOOL ARGS...``: run ``TOOL``'s ``main(ARGS)`` as that tool's program would."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(usage())
        return
    if argv[0] == '--version':
        from ..version import __version__

        print(f'{PROG} {__version__}')
        return
    tool, args = argv[0], argv[1:]
    if tool not in TOOLS:
        raise SystemExit(f'{PROG}: error: TOOL must be one of {list(TOOLS)}, got {tool!r} ({PROG} --help lists them)')
    # The tool's messages (argparse's usage and errors, exit_on_user_error's line) name it as 'mmdet-rla TOOL'.
    sys.argv = [f'{PROG} {tool}', *args]
    from ..tools_support.arguments import run_tool

    run_tool(importlib.import_module(module_name(tool)).main, args)


def run_launcher(script: str, argv: Optional[List[str]]) -> None:
    """Replace this process by ``bash`` running the shell launcher ``script`` that the package carries
    (``mmdet_rla/.mim/tools/``, the source tree's ``tools/``): signals sent to the job then reach the
    script as they do when it is started directly (pre-emption, see ``tools/dist_train.sh``). The
    launcher runs this interpreter unless ``PYTHON`` says otherwise."""
    from ..config_paths import MIM_DIR

    path = os.path.join(MIM_DIR, 'tools', script)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{script}: the package has no {path}')
    env = dict(os.environ)
    env.setdefault('PYTHON', sys.executable)
    args = list(sys.argv[1:] if argv is None else argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe('bash', ['bash', path, *args], env)


__all__ = ['TOOLS', 'main', 'module_name', 'run_launcher']
