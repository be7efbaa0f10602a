"""Linear probes on the pooled outputs of a trained classifier's blocks (RegNet's Fig. 1(b)).

RegNet's Fig. 1(b) adds "an average pooling layer and the last fully connected layer" to the
outputs ``O`` of the last three blocks of ResNet-20 and RegNet-20 and compares their test accuracy:
how much of the class a block's output already carries. Here the classifier stays frozen, the block
outputs are captured with :class:`~mmdet_rla.analysis.capture.BlockCapture` during ordinary forward
passes, global-average pooled, and one linear classifier per block is fitted on the training split
(features standardised with the training statistics; full-batch L-BFGS on cross-entropy with a small
L2 penalty, deterministic) and scored on the test split.
"""

import copy
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import Runner
from torch import nn

from ..utils import check_positive_int
from .capture import BlockCapture, block_names, global_average_pool, unwrap_backbone
from .inputs import config_scope, test_pipeline_config


@dataclass
class ProbeResult:
    """Accuracy (in %) of the linear probe on each block's pooled output.

    Attributes:
        blocks: Block names, in network order.
        train_accuracy, test_accuracy: Per block, on the fitting (training) split and the test split.
        feature_dims: Channels of each block's output.
        num_train, num_test: Images in each split.
    """

    blocks: List[str]
    train_accuracy: List[float]
    test_accuracy: List[float]
    feature_dims: List[int]
    num_train: int
    num_test: int


def last_blocks(model: nn.Module, num_blocks: int) -> List[str]:
    """The names of the last ``num_blocks`` blocks of ``model``'s backbone."""
    names = block_names(model)
    check_positive_int('num_blocks', num_blocks)
    if num_blocks > len(names):
        raise ValueError(f'num_blocks must be at most the number of blocks ({len(names)}), got {num_blocks}')
    return names[-num_blocks:]


def probe_dataloader(cfg: Config, split: str, batch_size: Optional[int] = None):
    """The config's ``train`` or ``test`` dataloader with the test pipeline and no shuffling.

    The training split is read without augmentation, so its features are those of the images.
    """
    if split not in ('train', 'test'):
        raise ValueError(f"split must be one of ['train', 'test'], got {split!r}")
    loader = copy.deepcopy(cfg.get(f'{split}_dataloader'))
    if not loader:
        raise ValueError(f'the config has no {split}_dataloader')
    dataset = loader['dataset']
    dataset = dataset.get('dataset', dataset)  # dataset wrappers
    dataset['pipeline'] = test_pipeline_config(cfg)
    dataset['serialize_data'] = False  # read once, in this process: skip mmengine's gc.collect() + pickling
    loader['sampler'] = dict(type='DefaultSampler', shuffle=False)
    loader['num_workers'] = 0
    loader['persistent_workers'] = False
    if batch_size is not None:
        loader['batch_size'] = batch_size
    with config_scope(cfg):
        return Runner.build_dataloader(loader, seed=0)


def pooled_block_outputs(
    model: nn.Module, dataloader, blocks: Sequence[str], max_images: Optional[int] = None
) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
    """``({block: (N, C) pooled outputs}, (N,) labels)`` over ``dataloader`` (at most ``max_images``).

    ``model`` is a classifier whose data samples carry ``gt_label`` (mmpretrain's ``DataSample``).
    """
    backbone = unwrap_backbone(model)
    features: Dict[str, List[torch.Tensor]] = {name: [] for name in blocks}
    labels: List[torch.Tensor] = []
    seen = 0
    with torch.no_grad(), BlockCapture(backbone, blocks, transform=global_average_pool) as capture:
        for batch in dataloader:
            data = model.data_preprocessor(batch, False)
            samples = data['data_samples']
            if not samples or 'gt_label' not in samples[0]:
                raise ValueError(
                    'block probes need a classification config whose data samples carry gt_label '
                    '(an mmpretrain ImageClassifier config)'
                )
            backbone(data['inputs'])
            for name in blocks:
                features[name].append(capture.records[name].output.cpu())
            labels.append(torch.cat([s.gt_label.reshape(-1)[:1] for s in samples]).cpu())
            seen += len(samples)
            if max_images is not None and seen >= max_images:
                break
    label_tensor = torch.cat(labels)
    count = len(label_tensor) if max_images is None else min(max_images, len(label_tensor))
    return {name: torch.cat(f)[:count] for name, f in features.items()}, label_tensor[:count]


class LinearProbe(nn.Module):
    """Standardisation with fixed training statistics, then one linear layer."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, num_classes: int) -> None:
        super().__init__()
        self.register_buffer('mean', mean)
        self.register_buffer('std', std)
        self.fc = nn.Linear(mean.numel(), num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc((features - self.mean) / self.std)


def fit_linear_probe(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    *,
    weight_decay: float = 1e-3,
    max_iter: int = 300,
    seed: int = 0,
) -> LinearProbe:
    """Fit a :class:`LinearProbe` on ``(N, C)`` features by full-batch L-BFGS (deterministic)."""
    if features.ndim != 2 or len(features) != len(labels) or len(labels) == 0:
        raise ValueError(
            f'features must be (N, C) with one label each, got {tuple(features.shape)} features '
            f'and {tuple(labels.shape)} labels'
        )
    features = features.double()
    mean = features.mean(dim=0)
    std = features.std(dim=0, unbiased=False).clamp_min(1e-6)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    probe = LinearProbe(mean, std, num_classes).double()
    torch.random.set_rng_state(generator_state)
    optimizer = torch.optim.LBFGS(
        probe.parameters(), lr=1, max_iter=max_iter, history_size=20, line_search_fn='strong_wolfe'
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(probe(features), labels) + weight_decay * probe.fc.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return probe.eval()


def accuracy(probe: LinearProbe, features: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of ``probe`` in %."""
    with torch.no_grad():
        return 100.0 * (probe(features.double()).argmax(dim=1) == labels).double().mean().item()


def run_block_probes(
    model: nn.Module,
    cfg: Config,
    num_blocks: int = 3,
    *,
    max_images: Optional[int] = None,
    batch_size: Optional[int] = None,
) -> ProbeResult:
    """Probe the last ``num_blocks`` blocks of the frozen classifier ``model`` built from ``cfg``."""
    blocks = last_blocks(model, num_blocks)
    train_x, train_y = pooled_block_outputs(model, probe_dataloader(cfg, 'train', batch_size), blocks, max_images)
    test_x, test_y = pooled_block_outputs(model, probe_dataloader(cfg, 'test', batch_size), blocks, max_images)
    head = getattr(model, 'head', None)
    num_classes = getattr(head, 'num_classes', None) or int(max(train_y.max(), test_y.max())) + 1
    train_acc, test_acc = [], []
    for name in blocks:
        probe = fit_linear_probe(train_x[name], train_y, num_classes)
        train_acc.append(accuracy(probe, train_x[name], train_y))
        test_acc.append(accuracy(probe, test_x[name], test_y))
    return ProbeResult(blocks, train_acc, test_acc, [train_x[n].shape[1] for n in blocks], len(train_y), len(test_y))


def plot_probes(results: Dict[str, ProbeResult], out_file: str, title: str = '') -> None:
    """Grouped bars: test accuracy of each block's probe (x: the last blocks), one bar per model."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError('results must hold at least one probe result')
    num_blocks = max(len(r.blocks) for r in results.values())
    first = next(iter(results.values()))
    same_names = all(r.blocks == first.blocks for r in results.values())
    positions = list(range(num_blocks))
    width = 0.8 / len(results)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * num_blocks + 2.5), 3.6), dpi=100)
    for index, (label, result) in enumerate(results.items()):
        offset = num_blocks - len(result.blocks)  # align the last blocks
        xs = [offset + i + (index - (len(results) - 1) / 2) * width for i in range(len(result.blocks))]
        bars = ax.bar(xs, result.test_accuracy, width=width, label=label)
        for bar, value in zip(bars, result.test_accuracy):
            ax.annotate(
                f'{value:.0f}',
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha='center',
                va='bottom',
                fontsize=7,
            )
    ax.set_xticks(positions)
    ax.set_xticklabels(
        first.blocks
        if same_names
        else [f'last-{num_blocks - 1 - i}' if i < num_blocks - 1 else 'last' for i in positions],
        fontsize=8,
    )
    ax.set_xlabel('block (probe on its pooled output O)')
    ax.set_ylabel('test accuracy of the linear probe (%)')
    ax.set_ylim(0, 115)  # room for the legend above the bars
    ax.set_yticks(range(0, 101, 20))
    ax.grid(axis='y', alpha=0.3)
    ax.legend(fontsize=8, loc='upper center', ncol=len(results), frameon=False)
    ax.set_title(title or 'linear probes on block outputs (frozen classifiers)', fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)


__all__ = [
    'LinearProbe',
    'ProbeResult',
    'accuracy',
    'fit_linear_probe',
    'last_blocks',
    'plot_probes',
    'pooled_block_outputs',
    'probe_dataloader',
    'run_block_probes',
]
