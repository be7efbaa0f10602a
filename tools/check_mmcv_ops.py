"""Which ops the installed mmcv carries, and whether its nms and RoIAlign give on each GPU what they give on the CPU.

    python tools/check_mmcv_ops.py                   # every GPU torch sees (none: report the ops only)
    python tools/check_mmcv_ops.py --device cuda:1   # one device (any torch device string)

``tools/setup_env.sh`` and ``tools/gpu_wheels.sh --install`` run it last. The first line says the ops'
flavour (``cpu``, or ``cuda 13.0``); then one line per device. Exit status 1, with one ``error:`` line, where
the ops are CPU-only on a machine whose GPUs torch sees (mmcv's nms on a CUDA tensor fails there with
``nms_impl: implementation for device cuda:0 not found``; ``--allow-cpu-ops`` accepts that) or where a
device's results differ from the CPU's.
"""

import argparse
import os
import sys
from typing import List, Optional, Sequence, Tuple

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mmdet_rla.tools_support.arguments import exit_on_user_error  # noqa: E402

PROG = 'check_mmcv_ops.py'


def ops_flavour() -> str:
    """``cpu`` or ``cuda <version>``: what the installed mmcv's compiled ops were built with."""
    from mmcv.ops import get_compiling_cuda_version

    version = get_compiling_cuda_version()
    return 'cpu' if version == 'not available' else f'cuda {version}'


def sample_inputs(seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Boxes with scores for nms (clustered, so that it suppresses), and a feature map with RoIs."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.rand(12, 2, generator=generator) * 200
    xy = centres.repeat_interleave(10, dim=0) + torch.randn(120, 2, generator=generator) * 6
    size = 20 + torch.rand(120, 2, generator=generator) * 30
    boxes = torch.cat([xy, xy + size], dim=1)
    scores = torch.rand(120, generator=generator)
    features = torch.randn(2, 8, 40, 48, generator=generator)
    corner = torch.rand(30, 2, generator=generator) * 60
    extent = 4 + torch.rand(30, 2, generator=generator) * 30
    batch = torch.randint(0, 2, (30, 1), generator=generator).float()
    rois = torch.cat([batch, corner, corner + extent], dim=1)
    return boxes, scores, features, rois


def compare_on(device: str, tolerance: float = 1e-4) -> Tuple[bool, str]:
    """Runs mmcv's nms and RoIAlign on ``device`` and on the CPU; returns whether they agree and a line."""
    from mmcv.ops import RoIAlign, nms

    boxes, scores, features, rois = sample_inputs()
    _, keep_cpu = nms(boxes, scores, iou_threshold=0.5)
    _, keep_dev = nms(boxes.to(device), scores.to(device), iou_threshold=0.5)
    same_keep = torch.equal(keep_cpu, keep_dev.cpu())
    roi_align = RoIAlign(output_size=(7, 7), spatial_scale=0.5, sampling_ratio=2, aligned=True)
    pooled_cpu = roi_align(features, rois)
    pooled_dev = roi_align(features.to(device), rois.to(device)).cpu()
    diff = (pooled_cpu - pooled_dev).abs().max().item()
    ok = same_keep and diff <= tolerance
    name = f' ({torch.cuda.get_device_name(torch.device(device))})' if torch.device(device).type == 'cuda' else ''
    nms_text = (
        f'nms keeps the same {len(keep_cpu)} of {len(boxes)} boxes'
        if same_keep
        else f"nms keeps {len(keep_dev)} boxes against the CPU's {len(keep_cpu)} (or in another order)"
    )
    return ok, f'{device}{name}: {nms_text}, RoIAlign max |difference| {diff:.2g} (tolerance {tolerance:g})'


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--device',
        action='append',
        default=None,
        help='a torch device to compare with the CPU (repeatable; default: every GPU torch sees)',
    )
    parser.add_argument(
        '--allow-cpu-ops',
        action='store_true',
        help='accept CPU-only ops on a GPU machine (MMDET_RLA_MMCV_CUDA=0): report, compare nothing',
    )
    args = parser.parse_args(argv)
    import mmcv

    flavour = ops_flavour()
    print(f'mmcv {mmcv.__version__} ops: {flavour}')
    if args.device:
        devices: List[str] = args.device
        for device in devices:
            try:
                parsed = torch.device(device)
            except RuntimeError:
                raise ValueError(f'--device: {device!r} is not a torch device (such as cpu, cuda, cuda:1)') from None
            if parsed.type == 'cuda' and not torch.cuda.is_available():
                raise ValueError(f'--device {device}: torch sees no CUDA device here')
    else:
        devices = [f'cuda:{index}' for index in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
        if not devices:
            print('no GPU visible to torch: nothing to compare with the CPU')
    on_gpu = [device for device in devices if torch.device(device).type == 'cuda']
    if on_gpu and flavour == 'cpu':
        if args.allow_cpu_ops:
            print(f'CPU-only ops on a machine with {len(on_gpu)} GPU(s) (allowed): nms on CUDA tensors will fail')
            return 0
        raise ValueError(
            f'mmcv {mmcv.__version__} has CPU-only ops, but torch sees {len(on_gpu)} GPU(s): its nms '
            'on CUDA tensors fails; set it up again with CUDA ops (docs/installation.md)'
        )
    failures = 0
    for device in devices:
        ok, line = compare_on(device)
        print(line)
        failures += not ok
    if failures:
        print(f'{PROG}: error: {failures} device(s) disagree with the CPU', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    with exit_on_user_error(PROG):
        sys.exit(main())
