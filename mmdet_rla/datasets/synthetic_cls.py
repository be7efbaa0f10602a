"""A small generated image-classification dataset in mmpretrain's ``CustomDataset`` folder layout.

Each image shows one two-colour pattern (the class): a checkerboard, a filled circle, horizontal or
vertical stripes, with random colours, period, phase, size and position and pixel noise, so the
class is carried by the spatial structure alone and a network has to learn it (a tiny CNN does in
a few hundred CPU steps). The layout is the one mmpretrain's ``CustomDataset`` scans::

    <out_dir>/train/<class>/<index>.png
    <out_dir>/val/<class>/<index>.png
    <out_dir>/classes.txt                  # one class name per line, in label order

Used by ``configs/classification/_demo_`` and its test, and for quick CPU sanity runs:

>>> from mmdet_rla.datasets.synthetic_cls import generate_cls_dataset
>>> summary = generate_cls_dataset('data/synthetic_cls', train_per_class=60, val_per_class=20)
"""

import os
import os.path as osp
from typing import Dict, Sequence

import cv2
import numpy as np

from ..utils import check_choice, check_int_range, check_positive_int

# Sorted, so that the label order CustomDataset derives from the folder names is this order.
CLASSES = ('checker', 'circle', 'hstripes', 'vstripes')
SPLITS = ('train', 'val')


def make_pattern_image(pattern: str, rng: np.random.Generator, image_size: int = 32) -> np.ndarray:
    """One ``image_size`` x ``image_size`` BGR uint8 image of ``pattern``.

    Two random colours (at least 96 grey levels apart in some channel) make up a checkerboard,
    a filled circle on a background, or horizontal / vertical stripes; the period and phase of
    the periodic patterns and the size and position of the circle are random, and Gaussian pixel
    noise (sigma 12) is added. Colour statistics thus say nothing about the class: the network
    has to look at the spatial structure.

    Args:
        pattern: One of :data:`CLASSES`.
        rng: The random generator that draws colours, geometry and noise.
        image_size: Side length in pixels, in [16, 1024].
    """
    check_choice('pattern', pattern, CLASSES)
    check_int_range('image_size', image_size, 16, 1024)
    background = rng.integers(0, 256, size=3)
    foreground = rng.integers(0, 256, size=3)
    while np.abs(foreground - background).max() < 96:
        foreground = rng.integers(0, 256, size=3)
    rows, cols = np.mgrid[0:image_size, 0:image_size].astype(np.float64)
    # Periods scale with the image: 5-9 pixels at 32x32.
    period = rng.uniform(5, 9) * image_size / 32
    phase = rng.uniform(0, period)
    if pattern == 'hstripes':
        mask = (rows + phase) % period < period / 2
    elif pattern == 'vstripes':
        mask = (cols + phase) % period < period / 2
    elif pattern == 'checker':
        cell = period / 2
        mask = ((rows + phase) // cell + (cols + phase) // cell) % 2 == 0
    else:  # circle
        radius = rng.uniform(0.19, 0.32) * image_size
        center = rng.uniform(radius, image_size - radius, size=2)
        mask = (cols - center[0]) ** 2 + (rows - center[1]) ** 2 < radius**2
    image = np.where(mask[..., None], foreground, background).astype(np.float64)
    image += rng.normal(0, 12, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def generate_cls_dataset(
    out_dir: str,
    train_per_class: int = 60,
    val_per_class: int = 20,
    image_size: int = 32,
    seed: int = 0,
    classes: Sequence[str] = CLASSES,
) -> Dict[str, object]:
    """Write the dataset to ``out_dir`` (created if missing) and return a summary.

    The same arguments always produce the same files. Existing files of the same names are
    overwritten; nothing else in ``out_dir`` is touched.

    Args:
        out_dir: Root folder of the dataset.
        train_per_class: Training images per class.
        val_per_class: Validation images per class.
        image_size: Side length of the square images.
        seed: Seed of the random generator.
        classes: A non-empty subset of :data:`CLASSES` (stored sorted, the label order).

    Returns:
        dict with ``classes``, ``num_train``, ``num_val``, ``image_size`` and ``out_dir``.
    """
    check_positive_int('train_per_class', train_per_class)
    check_positive_int('val_per_class', val_per_class)
    check_int_range('image_size', image_size, 16, 1024)
    check_int_range('seed', seed, 0, 2**63 - 1)  # numpy's generators take non-negative seeds
    classes = tuple(sorted(classes))
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(
            f'classes must be a non-empty list of distinct names from {list(CLASSES)}, got {list(classes)!r}'
        )
    for name in classes:
        check_choice('classes', name, CLASSES)
    rng = np.random.default_rng(seed)
    counts = dict(train=train_per_class, val=val_per_class)
    for split in SPLITS:
        for name in classes:
            folder = osp.join(out_dir, split, name)
            os.makedirs(folder, exist_ok=True)
            for index in range(counts[split]):
                image = make_pattern_image(name, rng, image_size)
                if not cv2.imwrite(osp.join(folder, f'{index:05d}.png'), image):
                    raise OSError(f'could not write an image into {folder}')
    with open(osp.join(out_dir, 'classes.txt'), 'w') as file:
        file.write('\n'.join(classes) + '\n')
    return dict(
        classes=list(classes),
        num_train=train_per_class * len(classes),
        num_val=val_per_class * len(classes),
        image_size=image_size,
        out_dir=out_dir,
    )
