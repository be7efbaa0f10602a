"""Refine-or-Represent channel configuration and, from a checkpoint, how each channel group is used.

RoR (Shen & Gao, Fig. 1) configures every block's output channels as *Refine* (``F_i(x) + x_i``) or
*Represent* (``F_i(x)``, no shortcut). :func:`channel_configuration` reads the configuration from the
blocks' ``refine_mask`` buffers (a checkpoint carries them); :func:`residual_channel_norms` measures,
per block, the root-mean-square of the residual ``F(x)`` on the Refine and on the Represent channels
over some images, with :class:`~mmdet_rla.analysis.capture.BlockCapture`: a Refine channel adds a
correction to a feature it inherits, a Represent channel has to produce its feature alone.
:func:`plot_ror_channels` draws both.
"""

from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .capture import BlockCapture, iter_blocks, unwrap_backbone

MASK_BUFFER = 'refine_mask'


@dataclass
class BlockChannels:
    """One block's channel configuration (and, when measured, residual norms).

    Attributes:
        name: Block name (``layer1.0``).
        refine: Boolean per output channel, ``True`` for Refine, ``False`` for Represent.
        refine_rms, represent_rms: Mean over the group's channels of each channel's root-mean-square
            residual ``F(x)`` over the images and positions measured (``None`` until measured, or
            when the group is empty).
    """

    name: str
    refine: torch.Tensor
    refine_rms: Optional[float] = None
    represent_rms: Optional[float] = None

    @property
    def represent_channels(self) -> List[int]:
        return (~self.refine).nonzero().flatten().tolist()


def channel_configuration(model: nn.Module) -> List[BlockChannels]:
    """Every RoR block's Refine/Represent configuration, in network order.

    Raises:
        ValueError: The backbone has no RoR blocks (no ``refine_mask`` buffers).
    """
    blocks = [
        BlockChannels(name, getattr(block, MASK_BUFFER).flatten().detach().cpu() > 0)
        for name, block, _ in iter_blocks(model)
        if hasattr(block, MASK_BUFFER)
    ]
    if not blocks:
        raise ValueError(
            f'{type(unwrap_backbone(model)).__name__} has no Refine-or-Represent blocks: the RoR '
            'channel picture needs a RoRResNet or RoRResNeXt backbone'
        )
    return blocks


def residual_channel_norms(model: nn.Module, inputs: Iterable[torch.Tensor]) -> List[BlockChannels]:
    """:func:`channel_configuration` with the residual RMS of each group over ``inputs`` (model in eval mode).

    Args:
        model: A detector, classifier or backbone with a RoR backbone.
        inputs: Preprocessed input batches ``(N, 3, H, W)`` for the backbone.
    """
    blocks = channel_configuration(model)
    backbone = unwrap_backbone(model)
    names = [b.name for b in blocks]
    squares = {name: None for name in names}
    counts = dict.fromkeys(names, 0)
    with torch.no_grad(), BlockCapture(backbone, names, residual=True) as capture:
        for batch in inputs:
            backbone(batch)
            for name in names:
                residual = capture.records[name].residual.double()
                total = residual.pow(2).sum(dim=(0, 2, 3)).cpu()
                squares[name] = total if squares[name] is None else squares[name] + total
                counts[name] += residual.shape[0] * residual.shape[2] * residual.shape[3]
    if not any(counts.values()):
        raise ValueError('inputs must hold at least one batch')
    for block in blocks:
        rms = (squares[block.name] / counts[block.name]).sqrt()
        block.refine_rms = rms[block.refine].mean().item() if block.refine.any() else None
        block.represent_rms = rms[~block.refine].mean().item() if (~block.refine).any() else None
    return blocks


def configuration_matrix(blocks: Sequence[BlockChannels]) -> np.ndarray:
    """``(blocks, max channels)``: 1 Refine, 0 Represent, NaN beyond a block's width."""
    width = max(len(b.refine) for b in blocks)
    matrix = np.full((len(blocks), width), np.nan)
    for row, block in enumerate(blocks):
        matrix[row, : len(block.refine)] = block.refine.numpy().astype(float)
    return matrix


def plot_ror_channels(blocks: Sequence[BlockChannels], out_file: str, title: str = '') -> Tuple[int, int]:
    """The configuration (top) and, when measured, the residual RMS per group (bottom). Returns the PNG size."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    measured = any(b.refine_rms is not None or b.represent_rms is not None for b in blocks)
    rows = 2 if measured else 1
    fig, axes = plt.subplots(
        rows,
        1,
        figsize=(8, 2.2 + 0.16 * len(blocks) + (3.0 if measured else 0)),
        dpi=100,
        squeeze=False,
        gridspec_kw=dict(height_ratios=(1.2, 1) if measured else (1,)),
    )
    ax = axes[0, 0]
    # Represent orange, Refine blue (the paper's colour), white beyond a block's width.
    cmap = ListedColormap(['#e8743b', '#3b75af']).with_extremes(bad='white')
    ax.imshow(
        np.ma.masked_invalid(configuration_matrix(blocks)),
        aspect='auto',
        cmap=cmap,
        vmin=0,
        vmax=1,
        interpolation='nearest',
    )
    ax.set_yticks(range(len(blocks)))
    ax.set_yticklabels([f'{b.name} ({(~b.refine).sum().item()}/{len(b.refine)})' for b in blocks], fontsize=7)
    ax.set_xlabel('output channel')
    ax.set_title(
        'channel configuration: Refine (blue, y = F(x) + x) and Represent (orange, y = F(x)); label: Represent/all',
        fontsize=9,
    )
    if measured:
        ax = axes[1, 0]
        x = np.arange(len(blocks))
        refine = [np.nan if b.refine_rms is None else b.refine_rms for b in blocks]
        represent = [np.nan if b.represent_rms is None else b.represent_rms for b in blocks]
        ax.bar(x - 0.2, refine, width=0.4, color='#3b75af', label='Refine channels')
        ax.bar(x + 0.2, represent, width=0.4, color='#e8743b', label='Represent channels')
        ax.set_xticks(x)
        ax.set_xticklabels([b.name for b in blocks], rotation=60, ha='right', fontsize=7)
        values = [v for v in refine + represent if not np.isnan(v)]
        if values and min(values) > 0 and max(values) > 10 * min(values):  # both groups visible
            ax.set_yscale('log')
        ax.set_ylabel('residual RMS, mean over channels')
        ax.set_title('size of the residual F(x) per channel group (RMS over images and positions)', fontsize=9)
        ax.grid(axis='y', alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out_file)
    size = fig.canvas.get_width_height()
    plt.close(fig)
    return size


__all__ = [
    'BlockChannels',
    'channel_configuration',
    'configuration_matrix',
    'plot_ror_channels',
    'residual_channel_norms',
]
