"""Print a training run's fingerprint: ``python tools/demo/fingerprint.py WORK_DIR CHECKPOINT [--iteration 10]``.

Two numbers that tell whether two runs were the same run: the loss logged at an early iteration
(``vis_data/scalars.json`` under ``WORK_DIR``, as the LoggerHook logged it) and a SHA-256 of the
checkpoint's weights (names, dtypes, shapes and bytes of every ``state_dict`` tensor, in name order).
Identical fingerprints: bit-identical runs. On other CPUs the same seed gives other fingerprints:
floating-point results differ in the last bits (vector instructions, thread counts, library builds),
and training amplifies the differences.
"""

import argparse
import glob
import hashlib
import json
import os.path as osp

import torch

from mmdet_rla.engine import load_checkpoint_file
from mmdet_rla.tools_support.arguments import run_tool


def weights_sha256(state_dict) -> str:
    """SHA-256 over the tensors of ``state_dict`` (name, dtype, shape and bytes, in name order)."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f'{name}:{tensor.dtype}:{tuple(tensor.shape)}:'.encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def logged_loss(work_dir: str, iteration: int) -> float:
    """The total loss the run logged at ``iteration`` (from any ``<timestamp>/vis_data/scalars.json``)."""
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path, encoding='utf-8') as file:
            for entry in map(json.loads, file):
                if entry.get('iter') == iteration and 'loss' in entry:
                    return float(entry['loss'])
    raise ValueError(
        f'no loss logged at iteration {iteration} under {work_dir} (the LoggerHook logs every '
        'default_hooks.logger.interval iterations)'
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Print a training run's fingerprint")
    parser.add_argument('work_dir', help="the run's work dir (with <timestamp>/vis_data/scalars.json)")
    parser.add_argument('checkpoint', help='its final checkpoint')
    parser.add_argument('--iteration', type=int, default=10, help='iteration whose logged loss to print')
    args = parser.parse_args(argv)
    loss = logged_loss(args.work_dir, args.iteration)
    sha = weights_sha256(load_checkpoint_file(args.checkpoint)['state_dict'])
    print(f'fingerprint: loss at iteration {args.iteration} = {loss:.6f}, weights sha256 = {sha[:16]}')


if __name__ == '__main__':
    run_tool(main)
