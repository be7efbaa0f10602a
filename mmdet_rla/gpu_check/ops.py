"""mmcv's detection ops on the device against a CPU reference: ``nms``, ``batched_nms``, ``RoIAlign``.

On a GPU the reference is mmcv's own CPU implementation (what the issue asks: the CUDA kernels must
give the CPU's results). On the CPU that would compare a function with itself, so the reference is
torchvision's independent implementation of the same op (``torchvision.ops.nms``, ``batched_nms``,
``roi_align``), which mmcv's CPU ops match exactly.

The boxes come in clusters (as a detector's proposals do), so that NMS suppresses most of them, with
distinct scores (no ties, whose order would be arbitrary). A GPU whose mmcv was built without CUDA ops
fails these checks with mmcv's own message (``nms_impl: implementation for device cuda:0 not found``),
and the environment section of the report shows ``mmcv.ops.get_compiling_cuda_version()``.
"""

from typing import List, Tuple

import torch

from .numerics import ROI_ALIGN_TOLERANCE, relative_error
from .report import Row, at_most

IOU_THRESHOLD = 0.5


def clustered_boxes(num: int, image_hw: Tuple[int, int], seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """``num`` float32 boxes ``(x1, y1, x2, y2)`` around ``num // 8`` centres, and distinct scores in (0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    height, width = image_hw
    centres = torch.rand(max(num // 8, 1), 2, generator=generator) * torch.tensor([width, height])
    which = torch.randint(len(centres), (num,), generator=generator)
    size = 16 + torch.rand(num, 2, generator=generator) * torch.tensor([width, height]) / 4
    centre = centres[which] + torch.randn(num, 2, generator=generator) * size / 6
    boxes = torch.cat([centre - size / 2, centre + size / 2], dim=1).float()
    scores = (torch.randperm(num, generator=generator).float() + 1) / num
    return boxes, scores


def _kept_difference(kept: torch.Tensor, expected: torch.Tensor) -> int:
    """How many indices one list keeps and the other does not, plus order differences."""
    kept, expected = kept.cpu().tolist(), expected.cpu().tolist()
    if kept == expected:
        return 0
    missing = len(set(kept) ^ set(expected))
    return missing if missing else sum(a != b for a, b in zip(kept, expected))


def check_nms(context) -> List[Row]:
    from mmcv.ops import nms

    boxes, scores = clustered_boxes(context.nms_boxes, context.image_hw)
    dets, kept = nms(boxes.to(context.device), scores.to(context.device), IOU_THRESHOLD)
    if context.device.type == 'cpu':
        from torchvision.ops import nms as reference_nms

        expected, source = reference_nms(boxes, scores, IOU_THRESHOLD), 'torchvision.ops.nms (CPU)'
    else:
        expected, source = nms(boxes, scores, IOU_THRESHOLD)[1], 'mmcv nms on the CPU'
    differing = _kept_difference(kept, expected)
    dets_match = bool(torch.equal(dets.cpu(), torch.cat([boxes, scores[:, None]], 1)[kept.cpu()]))
    row = at_most(
        'ops/nms',
        differing + (0 if dets_match else 1),
        0,
        what='kept boxes that differ',
        note=f'{len(expected)} of {len(boxes)} boxes kept; reference: {source}',
        details=dict(boxes=len(boxes), kept=len(kept), expected_kept=len(expected), dets_match=dets_match),
    )
    row.text = f'{differing} differ'
    if not dets_match:
        row.reason = 'the returned dets are not the kept boxes with their scores; ' + row.reason
    return [row]


def check_batched_nms(context) -> List[Row]:
    """Both of mmcv's paths: the coordinate-offset trick (one NMS) and, above ``split_thr``, one NMS per class."""
    from mmcv.ops import batched_nms

    boxes, scores = clustered_boxes(context.nms_boxes, context.image_hw, seed=1)
    classes = torch.randint(context.nms_classes, (len(boxes),), generator=torch.Generator().manual_seed(2))
    differing, notes, details = 0, [], {}
    for path, split_thr in (('offset', len(boxes) + 1), ('per-class', len(boxes) - 1)):
        cfg = dict(type='nms', iou_threshold=IOU_THRESHOLD, split_thr=split_thr)
        dets, kept = batched_nms(boxes.to(context.device), scores.to(context.device), classes.to(context.device), cfg)
        if context.device.type == 'cpu':
            from torchvision.ops import batched_nms as reference_batched_nms

            expected = reference_batched_nms(boxes, scores, classes, IOU_THRESHOLD)
            source = 'torchvision.ops.batched_nms (CPU)'
        else:
            expected, source = batched_nms(boxes, scores, classes, cfg)[1], 'mmcv batched_nms on the CPU'
        wrong = _kept_difference(kept, expected)
        if not torch.equal(dets.cpu(), torch.cat([boxes, scores[:, None]], 1)[kept.cpu()]):
            wrong += 1
        differing += wrong
        notes.append(f'{path}: {len(expected)} kept')
        details[path] = dict(kept=len(kept), expected_kept=len(expected), differing=wrong)
    row = at_most(
        'ops/batched_nms',
        differing,
        0,
        what='kept boxes that differ',
        note=f'{len(boxes)} boxes, {context.nms_classes} classes; {", ".join(notes)}; reference: {source}',
        details=details,
    )
    row.text = f'{differing} differ'
    return [row]


def check_roi_align(context) -> List[Row]:
    """RoIAlign (7x7 and the mask head's 14x14, ``aligned=True``, adaptive sampling) forward and backward."""
    from mmcv.ops import RoIAlign

    generator = torch.Generator().manual_seed(3)
    stride = 8
    height, width = context.image_hw
    features = torch.randn(2, context.roi_channels, height // stride, width // stride, generator=generator)
    boxes, _ = clustered_boxes(context.num_rois, context.image_hw, seed=4)
    rois = torch.cat([torch.randint(2, (len(boxes), 1), generator=generator).float(), boxes], dim=1)
    errors = {}
    for size in (7, 14):
        upstream = torch.randn(len(rois), context.roi_channels, size, size, generator=generator)

        def forward_backward(fn, device):
            x = features.to(device, copy=True).requires_grad_()  # a fresh leaf: gradients never accumulate
            out = fn(x, rois.to(device))
            out.backward(upstream.to(device))
            return out.detach(), x.grad.detach()

        op = RoIAlign(size, spatial_scale=1 / stride, sampling_ratio=0, aligned=True)
        out, grad = forward_backward(op, context.device)
        if context.device.type == 'cpu':
            from torchvision.ops import roi_align

            def reference(x, r):
                return roi_align(x, r, size, spatial_scale=1 / stride, sampling_ratio=0, aligned=True)

            expected_out, expected_grad = forward_backward(reference, 'cpu')
            source = 'torchvision.ops.roi_align (CPU)'
        else:
            expected_out, expected_grad = forward_backward(op, 'cpu')
            source = 'mmcv RoIAlign on the CPU'
        errors[f'{size}x{size} output'] = relative_error(out, expected_out)
        errors[f'{size}x{size} gradient'] = relative_error(grad, expected_grad)
    worst = max(errors, key=errors.get)
    return [
        at_most(
            'ops/roi_align',
            errors[worst],
            ROI_ALIGN_TOLERANCE,
            what=f'relative error ({worst})',
            note=f'worst: {worst}; {len(rois)} RoIs on {tuple(features.shape)}; reference: {source}',
            details=dict(errors=errors),
        )
    ]
