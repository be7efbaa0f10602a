"""Draw a detector's predictions on an image next to its ground truth.

``python tools/demo/draw_detections.py CONFIG CHECKPOINT [--ann ANN.json --img-id N [N ...] | --image IMG]
[--score-thr 0.3] [--out detections.png]``

One row per image: the ground truth (with --ann) on the left, the predictions on the right.

The checkpoint loads with ``weights_only=True`` (mmdet_rla.tools_support.checkpoint).
"""

import argparse
import json
import os.path as osp
from typing import List

import matplotlib

matplotlib.use('Agg')  # files only, no display needed
import matplotlib.patches as patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import mmcv  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

import mmdet_rla  # noqa: E402,F401  (registers the backbones)
from mmdet_rla.analysis.inputs import load_config  # noqa: E402
from mmdet_rla.engine import check_checkpoint_file  # noqa: E402
from mmdet_rla.tools_support.arguments import run_tool, unit_interval  # noqa: E402
from mmdet_rla.tools_support.checkpoint import allow_runner_checkpoints  # noqa: E402


def _ground_truth(ann_file: str, img_id: int):
    with open(ann_file, encoding='utf-8') as f:
        coco = json.load(f)
    images = {img['id']: img for img in coco['images']}
    if img_id not in images:
        raise ValueError(f'--img-id must be an image id of {ann_file} ({min(images)}..{max(images)}), got {img_id}')
    names = {c['id']: c['name'] for c in coco['categories']}
    boxes = [(a['bbox'], names[a['category_id']]) for a in coco['annotations'] if a['image_id'] == img_id]
    return images[img_id]['file_name'], boxes


def detector_config(config: str) -> Config:
    """The config at ``config``; ``ValueError`` unless its model is an mmdet detector (a classifier
    config has no boxes to draw)."""
    from mmdet.models.detectors import BaseDetector
    from mmdet.registry import MODELS

    cfg = load_config(config)
    model_type = cfg.get('model', {}).get('type')
    with DefaultScope.overwrite_default_scope('mmdet'):
        model_class = MODELS.get(model_type) if isinstance(model_type, str) else model_type
    if not (isinstance(model_class, type) and issubclass(model_class, BaseDetector)):
        raise ValueError(
            f'{config!r} is not a detector config: its model type is {model_type!r}, not an mmdet '
            'detector (draw_detections draws the boxes of detector configs such as '
            'configs/rla/*.py)'
        )
    return cfg


def _draw(ax, image, boxes: List[tuple], colours: dict, title: str) -> None:
    ax.imshow(image)
    for (x, y, w, h), name, score in boxes:
        colour = colours.get(name, (1.0, 1.0, 1.0))
        ax.add_patch(patches.Rectangle((x, y), w, h, fill=False, edgecolor=colour, linewidth=1.8))
        label = name if score is None else f'{name} {score:.2f}'
        ax.text(
            x,
            y - 1,
            label,
            fontsize=7,
            color='black',
            va='bottom',
            bbox=dict(facecolor=colour, alpha=0.8, pad=0.5, edgecolor='none'),
        )
    ax.set_title(title, fontsize=9)
    ax.axis('off')


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description='Draw detections (and ground truth) on an image')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--ann', help='COCO annotation json: draw its ground truth too')
    parser.add_argument('--img-id', type=int, nargs='+', default=[1], help='image id(s) in --ann')
    parser.add_argument('--img-dir', help='image folder of --ann (default: <ann dir>/../val)')
    parser.add_argument('--image', help='an image file instead of --ann/--img-id (no ground truth)')
    parser.add_argument('--score-thr', type=unit_interval, default=0.3, help='draw predictions above this score')
    parser.add_argument('--out', default='detections.png', help='output PNG')
    args = parser.parse_args(argv)

    from mmdet.apis import inference_detector, init_detector

    allow_runner_checkpoints()
    if args.image:
        images = [(args.image, None)]
    elif args.ann:
        img_dir = args.img_dir or osp.join(osp.dirname(osp.dirname(osp.abspath(args.ann))), 'val')
        images = []
        for img_id in args.img_id:
            file_name, gt = _ground_truth(args.ann, img_id)
            images.append((osp.join(img_dir, file_name), [(box, name, None) for box, name in gt]))
    else:
        parser.error('give --image, or --ann (and --img-id)')

    cfg = detector_config(args.config)
    check_checkpoint_file(args.checkpoint)  # missing, empty or foreign: one line, before mmengine's loader
    model = init_detector(cfg, args.checkpoint, device='cpu')
    classes = model.dataset_meta['classes']
    palette = model.dataset_meta.get('palette') or [(255, 255, 255)] * len(classes)
    colours = {name: tuple(c / 255 for c in palette[i % len(palette)]) for i, name in enumerate(classes)}
    columns = 1 if args.image else 2
    fig, axes = plt.subplots(len(images), columns, figsize=(3.6 * columns, 3.8 * len(images)), dpi=110, squeeze=False)
    total = 0
    for row, (image_path, gt_boxes) in enumerate(images):
        pred = inference_detector(model, image_path).pred_instances
        keep = pred.scores >= args.score_thr
        predictions = [
            ((x1, y1, x2 - x1, y2 - y1), classes[int(label)], float(score))
            for (x1, y1, x2, y2), label, score in zip(pred.bboxes[keep].tolist(), pred.labels[keep], pred.scores[keep])
        ]
        total += len(predictions)
        image = mmcv.imread(image_path, channel_order='rgb')
        name = osp.basename(image_path)
        if gt_boxes is not None:
            _draw(axes[row, 0], image, gt_boxes, colours, f'{name}: ground truth ({len(gt_boxes)})')
        _draw(
            axes[row, -1],
            image,
            predictions,
            colours,
            f'{name}: predictions, score >= {args.score_thr:g} ({len(predictions)})',
        )
    fig.tight_layout()
    fig.savefig(args.out)
    plt.close(fig)
    print(f'{total} detections drawn on {len(images)} image(s); saved to {args.out}')
    return args.out


if __name__ == '__main__':
    run_tool(main)
