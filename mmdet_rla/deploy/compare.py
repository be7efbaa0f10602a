"""Compare two sets of detections image by image (e.g. onnxruntime against PyTorch)."""

from typing import Dict, Iterable, List, Sequence

import numpy as np
import torch


def _instances(record) -> Dict[str, np.ndarray]:
    """``bboxes``, ``scores``, ``labels`` of a ``DetDataSample`` or of a ``tools/test.py --out`` record."""
    pred = record.pred_instances if hasattr(record, 'pred_instances') else record['pred_instances']
    return {key: _as_numpy(pred[key]) for key in ('bboxes', 'scores', 'labels')}


def _as_numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _image_id(record, index: int):
    if hasattr(record, 'metainfo'):
        return record.metainfo.get('img_id', index)
    return record.get('img_id', index)


def compare_detections(actual: Sequence, expected: Sequence) -> dict:
    """Compare detections image by image, in score order.

    Args:
        actual, expected: Per-image results, as ``DetDataSample``\\ s or ``tools/test.py --out``
            records, for the same images: matched by ``img_id`` where the ids are distinct (a dataset's),
            else by position (``inference_detector`` gives every image id 0).

    Returns:
        ``images``; ``same_counts`` and ``same_labels`` (every image has as many detections, with
        equal labels in score order); ``max_box_difference`` and ``max_score_difference`` over the
        detections both have (``0.0`` when there are none); ``detections`` (the total of ``expected``).
    """
    if len(actual) != len(expected):
        raise ValueError(f'the results cover {len(actual)} and {len(expected)} images')
    ids = [_image_id(r, i) for i, r in enumerate(actual)]
    expected_ids = [_image_id(r, i) for i, r in enumerate(expected)]
    if len(set(ids)) < len(ids) or len(set(expected_ids)) < len(expected_ids):
        ids = expected_ids = list(range(len(actual)))
    by_id = dict(zip(expected_ids, expected))
    report = dict(
        images=len(actual),
        same_counts=True,
        same_labels=True,
        max_box_difference=0.0,
        max_score_difference=0.0,
        detections=0,
    )
    for record, image_id in zip(actual, ids):
        if image_id not in by_id:
            raise ValueError(f'image {image_id!r} has no expected results')
        a, e = _instances(record), _instances(by_id[image_id])
        report['detections'] += len(e['scores'])
        # Stable sort by descending score: both lists come out of the same NMS and top-k.
        order_a, order_e = (np.argsort(-x['scores'], kind='stable') for x in (a, e))
        n = min(len(order_a), len(order_e))
        if len(order_a) != len(order_e):
            report['same_counts'] = False
        if n == 0:
            continue
        labels_a, labels_e = a['labels'][order_a[:n]], e['labels'][order_e[:n]]
        report['same_labels'] &= bool(np.array_equal(labels_a, labels_e))
        report['max_box_difference'] = max(
            report['max_box_difference'], float(np.abs(a['bboxes'][order_a[:n]] - e['bboxes'][order_e[:n]]).max())
        )
        report['max_score_difference'] = max(
            report['max_score_difference'], float(np.abs(a['scores'][order_a[:n]] - e['scores'][order_e[:n]]).max())
        )
    return report


def format_comparison(report: dict) -> str:
    """One line summarising :func:`compare_detections`."""
    return (
        f'{report["images"]} images, {report["detections"]} detections: same counts {report["same_counts"]}, '
        f'same labels {report["same_labels"]}, largest box difference {report["max_box_difference"]:.3g} px, '
        f'largest score difference {report["max_score_difference"]:.3g}'
    )


def flatten(batches: Iterable[Sequence]) -> List:
    """A list of per-image results from per-batch lists."""
    return [item for batch in batches for item in batch]


__all__ = ['compare_detections', 'flatten', 'format_comparison']
