"""Shared pytest fixtures: small synthetic COCO and classification datasets, the demo config shrunk to seconds."""

import os
import os.path as osp
import sys
from typing import Dict, List

import pytest
import torch
import yaml

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
COUNTS_FILE = osp.join(REPO_ROOT, 'tests', 'counts.yaml')
DEMO_CONFIG = osp.join(REPO_ROOT, 'configs', '_demo_', 'fcos_rla-r18-tiny_fpn_gn-head_shapes.py')
PYTHON = sys.executable


def load_counts() -> Dict[str, dict]:
    """tests/counts.yaml: the parameter and multiply-add counts that the tests assert and the docs quote."""
    with open(COUNTS_FILE, encoding='utf-8') as file:
        return yaml.safe_load(file)


COUNTS = load_counts()


@pytest.fixture(scope='session')
def synthetic_coco(tmp_path_factory) -> Dict[str, str]:
    """8 train / 4 val images of 128x128 (seed 0) in mmdet's CocoDataset layout.

    Returns ``dict(root=..., train_ann=..., val_ann=...)``; ``root`` ends with a slash, as mmdet
    configs write ``data_root``.
    """
    from mmdet_rla.datasets.synthetic_coco import generate_coco_dataset

    root = str(tmp_path_factory.mktemp('synthetic_coco'))
    files = generate_coco_dataset(root, num_train=8, num_val=4, image_size=(128, 128), seed=0)
    return dict(root=root + os.sep, train_ann=files['train'], val_ann=files['val'])


@pytest.fixture(scope='session')
def synthetic_patterns(tmp_path_factory) -> str:
    """The classification patterns dataset: 3 train / 2 val images of 32x32 per class (4 classes, seed 0).

    Returns the dataset root (``train/<class>/*.png``, ``val/<class>/*.png``).
    """
    from mmdet_rla.datasets.synthetic_cls import generate_cls_dataset

    root = str(tmp_path_factory.mktemp('synthetic_patterns'))
    generate_cls_dataset(root, train_per_class=3, val_per_class=2, image_size=32, seed=0)
    return root


@pytest.fixture(scope='session')
def tiny_demo_options(synthetic_coco) -> List[str]:
    """``--cfg-options`` that point the demo config at ``synthetic_coco`` and shrink it to 1 epoch.

    Batch 4 on 8 training images: 2 iterations per epoch (1 per rank with 2 processes of batch 2
    would need ``train_dataloader.batch_size=2``); a log line and a checkpoint every epoch.
    """
    root = synthetic_coco['root']
    return [
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        f'val_evaluator.ann_file={synthetic_coco["val_ann"]}',
        f'test_evaluator.ann_file={synthetic_coco["val_ann"]}',
        'train_dataloader.batch_size=4',
        'val_dataloader.batch_size=4',
        'test_dataloader.batch_size=4',
        'train_cfg.max_epochs=1',
        'train_cfg.val_interval=1',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=-1',
        'randomness.seed=0',
        # After 2 iterations no score passes 0.05: keep every box so CocoMetric has detections.
        'model.test_cfg.score_thr=0.0',
    ]


@pytest.fixture(scope='session')
def subprocess_env() -> Dict[str, str]:
    """Environment for tool subprocesses: one OpenMP thread each (they often run side by side)."""
    env = dict(os.environ)
    env['OMP_NUM_THREADS'] = '1'
    env['PYTHONWARNINGS'] = 'ignore'
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)  # the checkpoint policy must hold without it
    return env


@pytest.fixture(scope='module')
def one_torch_thread():
    """Single-threaded torch for a module of many small models on a busy 2-core machine
    (use with ``pytestmark = pytest.mark.usefixtures('one_torch_thread')``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def literal_rla_residual(block, x, h):
    """An RLA block's residual branch written out literally: its convs and norms over ``concat(x, h)``.

    The reference the tests hold the blocks' faster forward (which never builds the concatenation)
    to. Bottleneck and BasicBlock layouts; channel attention applied when the block has it.
    """
    out = block.relu(block.norm1(block.conv1(torch.cat([x, h], dim=1))))
    if hasattr(block, 'conv3'):
        out = block.relu(block.norm2(block.conv2(out)))
        out = block.norm3(block.conv3(out))
    else:
        out = block.norm2(block.conv2(out))
    return out if block.attention is None else block.attention(out)
