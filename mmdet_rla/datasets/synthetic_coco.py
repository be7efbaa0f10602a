"""A small synthetic COCO-format instance dataset: coloured shapes on a cluttered background.

Each image holds a few objects of three classes (``circle``, ``rectangle``, ``triangle``) in random
colours, sizes, rotations and positions, drawn over a noisy gradient with clutter that is *not*
annotated (thin lines, small blobs, speckle noise), so a detector has to learn shape rather than
"anything that is not background". Every object comes with its box, its instance polygon and its
area, in the layout mmdet's ``CocoDataset`` reads::

    OUT_DIR/annotations/instances_train.json   OUT_DIR/train/000000.png ...
    OUT_DIR/annotations/instances_val.json     OUT_DIR/val/000000.png ...

Generation is deterministic: image ``i`` of a split draws from a generator seeded with
``(seed, split, i)``, so the first ``N`` images do not depend on how many are generated in all.
Objects never overlap (their boxes, padded by a margin, are disjoint), so each polygon is exactly
the visible region of its object.
"""

import json
import math
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..utils import check_int_range, check_positive_int

CLASSES: Tuple[str, ...] = ('circle', 'rectangle', 'triangle')
PALETTE: List[Tuple[int, int, int]] = [(220, 20, 60), (0, 130, 230), (60, 180, 75)]
METAINFO: Dict[str, object] = dict(classes=CLASSES, palette=PALETTE)
SPLITS: Tuple[str, ...] = ('train', 'val')

_SPLIT_IDS = {'train': 0, 'val': 1}
_CIRCLE_VERTICES = 32  # polygon resolution of a circle's annotation (and of its drawing)
_SUBPIXEL_BITS = 4  # cv2.fillPoly's fractional bits: draw the exact float polygon we annotate


def _polygon_area(points: np.ndarray) -> float:
    """Shoelace area of a simple polygon given as an (N, 2) array."""
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def _shape_polygon(rng: np.random.Generator, label: int, cx: float, cy: float, radius: float) -> np.ndarray:
    """Polygon (N, 2) of a shape of class ``label`` inscribed in the circle (cx, cy, radius)."""
    name = CLASSES[label]
    if name == 'circle':
        angles = np.linspace(0, 2 * np.pi, _CIRCLE_VERTICES, endpoint=False)
    elif name == 'rectangle':
        # Aspect ratio 1:1 (a square) up to about 1:2.5, at any rotation.
        half_diag_angle = rng.uniform(np.pi / 9, np.pi / 4)
        theta = rng.uniform(0, np.pi)
        angles = theta + np.array(
            [half_diag_angle, np.pi - half_diag_angle, np.pi + half_diag_angle, 2 * np.pi - half_diag_angle]
        )
    elif name == 'triangle':
        # Vertices on the circle, at least 70 degrees apart: no slivers that look like lines.
        while True:
            angles = np.sort(rng.uniform(0, 2 * np.pi, size=3))
            gaps = np.diff(np.concatenate([angles, angles[:1] + 2 * np.pi]))
            if gaps.min() > np.deg2rad(70):
                break
    else:  # pragma: no cover - CLASSES is fixed
        raise ValueError(f'unknown class {name!r}')
    return np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1)


def _random_colour(rng: np.random.Generator, avoid: np.ndarray, min_distance: float = 90.0) -> np.ndarray:
    """A colour (BGR, float) at least ``min_distance`` away from ``avoid`` in RGB space."""
    for _ in range(100):
        colour = rng.uniform(0, 255, size=3)
        if np.linalg.norm(colour - avoid) >= min_distance:
            return colour
    return 255.0 - avoid  # the complement is always far enough


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A noisy linear gradient between two random colours (float32, H x W x 3)."""
    start, end = rng.uniform(40, 215, size=(2, 3))
    direction = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = xs * np.cos(direction) + ys * np.sin(direction)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    image = start + (end - start) * t[..., None]
    return image.astype(np.float32)


def _draw_clutter(rng: np.random.Generator, image: np.ndarray) -> None:
    """Unannotated distractors: thin lines and small blobs in random colours."""
    height, width = image.shape[:2]
    for _ in range(rng.integers(2, 6)):  # lines crossing a good part of the image
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        p2 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(image, p1, p2, rng.uniform(0, 255, size=3).tolist(), int(rng.integers(1, 3)), lineType=cv2.LINE_AA)
    max_blob = max(2, min(height, width) // 40)
    for _ in range(rng.integers(3, 10)):  # blobs too small to be mistaken for an object
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (int(rng.integers(1, max_blob + 1)), int(rng.integers(1, max_blob + 1)))
        cv2.ellipse(
            image,
            centre,
            axes,
            float(rng.uniform(0, 180)),
            0,
            360,
            rng.uniform(0, 255, size=3).tolist(),
            -1,
            lineType=cv2.LINE_AA,
        )


def make_image(
    rng: np.random.Generator, height: int, width: int, max_objects: int = 4
) -> Tuple[np.ndarray, List[dict]]:
    """Draw one image and return it (uint8, H x W x 3, BGR) with its object annotations.

    The image holds 1 to ``max_objects`` objects (fewer when no free spot is left for one).
    Each annotation is ``dict(category_id, bbox=[x, y, w, h], segmentation=[[x1, y1, ...]],
    area)``, with ``category_id`` 1-based into :data:`CLASSES`. Objects have a circumradius of
    8% to 22% of the shorter image side, lie fully inside the image and do not overlap.
    """
    image = _background(rng, height, width)
    _draw_clutter(rng, image)
    short_side = min(height, width)
    min_radius, max_radius = 0.08 * short_side, 0.22 * short_side
    margin = max(2.0, 0.02 * short_side)  # keeps objects apart and off the border
    placed: List[np.ndarray] = []  # padded boxes (x1, y1, x2, y2) of the objects drawn so far
    annotations: List[dict] = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _attempt in range(30):
            label = int(rng.integers(0, len(CLASSES)))
            radius = rng.uniform(min_radius, max_radius)
            cx = rng.uniform(radius + margin, width - radius - margin)
            cy = rng.uniform(radius + margin, height - radius - margin)
            polygon = _shape_polygon(rng, label, cx, cy, radius)
            x1, y1 = polygon.min(axis=0)
            x2, y2 = polygon.max(axis=0)
            padded = np.array([x1 - margin, y1 - margin, x2 + margin, y2 + margin])
            if all(padded[0] >= b[2] or padded[2] <= b[0] or padded[1] >= b[3] or padded[3] <= b[1] for b in placed):
                break
        else:
            continue  # no free spot left: fewer objects in this image
        placed.append(padded)
        x0, y0 = int(max(0, x1)), int(max(0, y1))
        local_mean = image[y0 : int(math.ceil(y2)) + 1, x0 : int(math.ceil(x2)) + 1].reshape(-1, 3).mean(0)
        colour = _random_colour(rng, local_mean)
        points = np.round(polygon * (1 << _SUBPIXEL_BITS)).astype(np.int32)
        cv2.fillPoly(image, [points], colour.tolist(), lineType=cv2.LINE_AA, shift=_SUBPIXEL_BITS)
        polygon = points.astype(np.float64) / (1 << _SUBPIXEL_BITS)  # exactly what was drawn
        x1, y1 = polygon.min(axis=0)
        x2, y2 = polygon.max(axis=0)
        annotations.append(
            dict(
                category_id=label + 1,
                bbox=[round(float(x1), 2), round(float(y1), 2), round(float(x2 - x1), 2), round(float(y2 - y1), 2)],
                segmentation=[[round(float(v), 2) for v in polygon.reshape(-1)]],
                area=round(_polygon_area(polygon), 2),
            )
        )
    image += rng.normal(0, 8, size=image.shape)  # sensor-like noise over everything
    return np.clip(image, 0, 255).astype(np.uint8), annotations


def generate_split(
    out_dir: str,
    split: str,
    num_images: int,
    image_size: Sequence[int] = (160, 160),
    seed: int = 0,
    progress: Optional[Callable[[str], None]] = None,
    max_objects: int = 4,
) -> str:
    """Write ``num_images`` images of ``split`` and their COCO json; return the json path."""
    if split not in _SPLIT_IDS:
        raise ValueError(f'split must be one of {list(_SPLIT_IDS)}, got {split!r}')
    check_positive_int('num_images', num_images)
    check_positive_int('max_objects', max_objects)
    height, width = _check_image_size(image_size)
    image_dir = osp.join(out_dir, split)
    ann_dir = osp.join(out_dir, 'annotations')
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(ann_dir, exist_ok=True)
    images, annotations = [], []
    report_every = max(1, num_images // 5)
    for index in range(num_images):
        rng = np.random.default_rng([seed, _SPLIT_IDS[split], index])
        image, objects = make_image(rng, height, width, max_objects)
        file_name = f'{index:06d}.png'
        cv2.imwrite(osp.join(image_dir, file_name), image)
        image_id = index + 1
        images.append(dict(id=image_id, file_name=file_name, height=height, width=width))
        for obj in objects:
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id, iscrowd=0, **obj))
        if progress is not None and ((index + 1) % report_every == 0 or index + 1 == num_images):
            progress(f'{split}: {index + 1}/{num_images} images')
    coco = dict(
        info=dict(description=f'mmdet_rla synthetic shapes ({split}, seed {seed})', version='1.0'),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[dict(id=i + 1, name=name, supercategory='shape') for i, name in enumerate(CLASSES)],
    )
    ann_file = osp.join(ann_dir, f'instances_{split}.json')
    with open(ann_file, 'w', encoding='utf-8') as f:
        json.dump(coco, f)
    return ann_file


def generate_coco_dataset(
    out_dir: str,
    num_train: int = 200,
    num_val: int = 50,
    image_size: Sequence[int] = (160, 160),
    seed: int = 0,
    progress: Optional[Callable[[str], None]] = None,
    max_objects: int = 4,
) -> Dict[str, str]:
    """Generate the train and val splits under ``out_dir``; return ``{split: annotation json}``.

    Args:
        out_dir: Dataset root (created if needed).
        num_train, num_val: Number of images per split (positive).
        image_size: ``(height, width)`` of every image, each at least 32 pixels.
        seed: Seed of the whole dataset: the same seed gives byte-identical annotation files.
        progress: Called with a short progress line now and then (e.g. ``print``).
        max_objects: Most objects per image (positive). Each image draws its count uniformly from
            1..``max_objects`` and places as many as fit without overlap: on 160x160 images the
            default 4 gives about 2.4 objects per image, 8 about 3.8 (denser images give a detector
            more labelled objects per training step at the same cost per step).
    """
    check_positive_int('num_train', num_train)
    check_positive_int('num_val', num_val)
    check_positive_int('max_objects', max_objects)
    check_int_range('seed', seed, 0, 2**63 - 1)  # numpy's generators take non-negative seeds
    _check_image_size(image_size)
    return {
        split: generate_split(out_dir, split, count, image_size, seed, progress, max_objects)
        for split, count in (('train', num_train), ('val', num_val))
    }


def _check_image_size(image_size: Sequence[int]) -> Tuple[int, int]:
    size = tuple(image_size)
    if len(size) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 32 for v in size):
        raise ValueError(f'image_size must be (height, width) with integers >= 32, got {image_size!r}')
    return size[0], size[1]


__all__ = ['CLASSES', 'PALETTE', 'METAINFO', 'make_image', 'generate_split', 'generate_coco_dataset']
