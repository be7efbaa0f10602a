"""Offline COCO evaluation of saved detections (``tools/analysis/coco_eval.py``).

Two result formats are read:

- a COCO results json: a list of ``{image_id, category_id, bbox: [x, y, w, h], score}`` (and
  ``segmentation`` as RLE for ``segm``), as written by mmdet's ``CocoMetric(format_only=True)``
  or any other COCO tool;
- the pickle ``tools/test.py --out`` writes (mmdet's ``DumpDetResults``): one dict per image with
  ``img_id`` and ``pred_instances`` (``bboxes`` as x1, y1, x2, y2, ``scores``, ``labels`` and RLE
  ``masks``). Labels index the dataset's classes; they are mapped to COCO category ids through
  ``classes`` (default: the annotation file's categories in id order, which is how mmdet's
  ``CocoDataset`` orders them when its metainfo lists them in that order).

The pickle is read with an unpickler that accepts tensors, numpy arrays and plain containers only.
Evaluation is pycocotools' ``COCOeval``, the same code mmdet's ``CocoMetric`` runs.
"""

import codecs
import collections
import contextlib
import io
import json
import pickle
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

METRICS = ('bbox', 'segm')
# The 12 numbers COCOeval.summarize() prints, in its order, with mmdet's names.
STAT_NAMES = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l', 'AR_1', 'AR_10', 'AR_100', 'AR_s', 'AR_m', 'AR_l')


class _ResultsUnpickler(pickle.Unpickler):
    """Unpickles tensors, numpy arrays and builtin containers; refuses every other global."""

    _ALLOWED = {
        ('collections', 'OrderedDict'): collections.OrderedDict,
        ('_codecs', 'encode'): codecs.encode,  # how protocol 2 pickles bytes
        ('torch._utils', '_rebuild_tensor_v2'): torch._utils._rebuild_tensor_v2,
        ('torch._utils', '_rebuild_tensor'): torch._utils._rebuild_tensor,
        ('numpy', 'ndarray'): np.ndarray,
        ('numpy', 'dtype'): np.dtype,
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module == 'torch.storage' and name == '_load_from_bytes':
            # Storages pickle as torch.save bytes: load those with weights_only as well.
            return lambda b: torch.load(io.BytesIO(b), weights_only=True)
        if module in ('numpy.core.multiarray', 'numpy._core.multiarray') and name in ('_reconstruct', 'scalar'):
            return getattr(np._core.multiarray if hasattr(np, '_core') else np.core.multiarray, name)
        if module == 'torch' and (name.endswith('Storage') or isinstance(getattr(torch, name, None), torch.dtype)):
            return getattr(torch, name)
        if module.startswith('numpy.dtypes') and name.endswith('DType'):
            return getattr(np.dtypes, name)
        raise pickle.UnpicklingError(
            f'refusing to load {module}.{name} from a results pickle: only '
            'tensors, numpy arrays and plain containers are accepted'
        )


def load_results_pickle(path: str) -> list:
    """Load a ``tools/test.py --out`` pickle (tensors, arrays and containers only)."""
    with open(path, 'rb') as f:
        return _ResultsUnpickler(f).load()


def _as_numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def predictions_to_coco(predictions: Sequence[dict], cat_ids: Sequence[int], metric: str) -> List[dict]:
    """Convert ``DumpDetResults`` records to COCO result dicts for ``metric``."""
    results = []
    for record in predictions:
        if 'img_id' not in record or 'pred_instances' not in record:
            raise ValueError(
                'each record of the results pickle needs img_id and pred_instances '
                '(the format of tools/test.py --out); got keys '
                f'{sorted(record)}'
            )
        pred = record['pred_instances']
        labels = _as_numpy(pred['labels']).astype(int)
        scores = _as_numpy(pred['scores']).astype(float)
        if labels.size and (labels.min() < 0 or labels.max() >= len(cat_ids)):
            raise ValueError(
                f'prediction labels must be in [0, {len(cat_ids) - 1}] (one per class), '
                f'got up to {labels.max()}: pass the classes the model was trained on'
            )
        if metric == 'bbox':
            boxes = _as_numpy(pred['bboxes']).reshape(-1, 4).astype(float)
            for box, score, label in zip(boxes, scores, labels):
                x1, y1, x2, y2 = box.tolist()
                results.append(
                    dict(
                        image_id=int(record['img_id']),
                        category_id=int(cat_ids[label]),
                        bbox=[x1, y1, x2 - x1, y2 - y1],
                        score=float(score),
                    )
                )
        else:
            if 'masks' not in pred:
                raise ValueError(
                    "metric 'segm' needs masks in the predictions (a mask model); this results pickle has boxes only"
                )
            for mask, score, label in zip(pred['masks'], scores, labels):
                rle = dict(mask)
                if isinstance(rle['counts'], bytes):
                    rle['counts'] = rle['counts'].decode()
                results.append(
                    dict(
                        image_id=int(record['img_id']),
                        category_id=int(cat_ids[label]),
                        segmentation=rle,
                        score=float(score),
                    )
                )
    return results


def load_coco_results(path: str, coco_gt, metric: str, classes: Optional[Sequence[str]] = None) -> List[dict]:
    """Read ``path`` (COCO results json or test.py pickle) as COCO result dicts for ``metric``."""
    if path.endswith('.json'):
        with open(path, encoding='utf-8') as f:
            results = json.load(f)
        if not isinstance(results, list):
            raise ValueError(f'{path}: a COCO results json holds a list of detections, got {type(results).__name__}')
        key = 'bbox' if metric == 'bbox' else 'segmentation'
        return [r for r in results if key in r]
    if path.endswith(('.pkl', '.pickle')):
        cats = sorted(coco_gt.loadCats(coco_gt.getCatIds()), key=lambda c: c['id'])
        if classes is None:
            cat_ids = [c['id'] for c in cats]
        else:
            by_name = {c['name']: c['id'] for c in cats}
            unknown = [name for name in classes if name not in by_name]
            if unknown:
                raise ValueError(
                    f'classes {unknown} are not categories of the annotation file (it has {sorted(by_name)})'
                )
            cat_ids = [by_name[name] for name in classes]
        return predictions_to_coco(load_results_pickle(path), cat_ids, metric)
    raise ValueError(
        f'results must be a .json (COCO results) or a .pkl/.pickle (tools/test.py --out) file, got {path!r}'
    )


def evaluate(
    results_file: str,
    ann_file: str,
    metrics: Sequence[str] = ('bbox',),
    classes: Optional[Sequence[str]] = None,
    classwise: bool = False,
    printer=print,
) -> Dict[str, float]:
    """COCO-evaluate ``results_file`` against ``ann_file``; print the AP tables; return the numbers.

    Returns:
        ``{'bbox_mAP': ..., 'bbox_mAP_50': ..., ..., 'segm_AR_l': ...}`` for every metric.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if isinstance(metrics, str):
        metrics = [metrics]
    for metric in metrics:
        if metric not in METRICS:
            raise ValueError(f'metric must be one of {list(METRICS)}, got {metric!r}')
    with _quiet():
        coco_gt = COCO(ann_file)
    numbers: Dict[str, float] = {}
    for metric in metrics:
        detections = load_coco_results(results_file, coco_gt, metric, classes)
        printer(f'\nEvaluating {metric}: {len(detections)} detections on {len(coco_gt.getImgIds())} images')
        if not detections:
            printer(f'no {metric} detections: every {metric} AP is 0')
            numbers.update({f'{metric}_{name}': 0.0 for name in STAT_NAMES})
            continue
        with _quiet():
            coco_dt = coco_gt.loadRes(detections)
        evaluator = COCOeval(coco_gt, coco_dt, metric)
        with _quiet():
            evaluator.evaluate()
            evaluator.accumulate()
        summary = io.StringIO()
        with contextlib.redirect_stdout(summary):
            evaluator.summarize()
        printer(summary.getvalue().rstrip())
        numbers.update({f'{metric}_{name}': float(value) for name, value in zip(STAT_NAMES, evaluator.stats)})
        if classwise:
            printer(_classwise_table(evaluator, coco_gt))
        printer(f'{metric}_mAP_copypaste: ' + ' '.join(f'{v:.3f}' for v in evaluator.stats[:6]))
    return numbers


def _classwise_table(evaluator, coco_gt) -> str:
    # precision: [IoU thresholds, recall points, categories, area ranges, max dets]
    precision = evaluator.eval['precision']
    lines = [f'{"category":<20} {"AP":>6} {"AP_50":>6}']
    for index, cat_id in enumerate(evaluator.params.catIds):
        name = coco_gt.cats[cat_id]['name']
        values = []
        for iou_index in (slice(None), 0):
            p = precision[iou_index, :, index, 0, -1]
            p = p[p > -1]
            values.append(float(p.mean()) if p.size else float('nan'))
        lines.append(f'{name:<20} {values[0]:>6.3f} {values[1]:>6.3f}')
    return '\n'.join(lines)


def _quiet() -> contextlib.redirect_stdout:
    """Silence pycocotools' progress chatter ("loading annotations into memory...")."""
    return contextlib.redirect_stdout(io.StringIO())


__all__ = ['METRICS', 'STAT_NAMES', 'evaluate', 'load_coco_results', 'load_results_pickle', 'predictions_to_coco']
