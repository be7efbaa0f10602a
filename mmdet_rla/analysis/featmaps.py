"""Feature-map grids laid out like RegNet's Fig. 1(a): per block, ``I``, the state and ``O`` over the image.

One row per block (in network order), one column per quantity: the block input ``I``, the family's
state (RLA ``h``; RNNRegNet ``H`` and, for ConvLSTM, ``C``) and the block output ``O``. Each panel is
drawn by mmengine's :meth:`~mmengine.visualization.Visualizer.draw_featmap`: the channels are
reduced to one map (their mean, or the strongest channel), min-max normalised **per panel**, coloured
(jet) and blended over the image the network saw. Column titles and block names are drawn by the
same Visualizer. A block without a state (plain ResNet, RoR, unregulated RNNRegNet stages) gets an
empty panel in the state columns.
"""

import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
from mmengine.visualization import Visualizer
from torch import nn

from ..utils import check_choice, check_int_range
from .capture import BlockCapture, BlockRecord, BlockSpec, unwrap_backbone
from .inputs import PreparedImage, crop_to_valid

CHANNEL_REDUCTIONS = ('squeeze_mean', 'select_max')
# Every block of the second stage: consecutive blocks at a resolution where shapes are still visible.
DEFAULT_BLOCKS = ('layer2',)
COLUMN_TITLES = {
    'I': 'I: block input',
    'h': 'h: RLA state',
    'H': 'H: hidden state',
    'C': 'C: LSTM cell',
    'O': 'O: block output',
}
EMPTY_PANEL_GREY = 235
BACKGROUND = 255


@dataclass(frozen=True)
class GridLayout:
    """Pixel geometry of a feature grid: a title band, a header row, a label column, then the tiles.

    ``tile_box(row, col)`` gives ``(top, bottom, left, right)`` of a panel; ``size`` is ``(H, W)``.
    """

    rows: int
    cols: int
    tile: Tuple[int, int]  # (height, width) of a panel
    label_width: int = 84
    header_height: int = 22
    title_height: int = 0
    gap: int = 4

    @property
    def size(self) -> Tuple[int, int]:
        height = self.title_height + self.header_height + self.rows * (self.tile[0] + self.gap)
        return height, self.label_width + self.cols * (self.tile[1] + self.gap)

    def tile_box(self, row: int, col: int) -> Tuple[int, int, int, int]:
        top = self.title_height + self.header_height + row * (self.tile[0] + self.gap)
        left = self.label_width + col * (self.tile[1] + self.gap)
        return top, top + self.tile[0], left, left + self.tile[1]


def grid_columns(records: Sequence[BlockRecord]) -> List[str]:
    """``['I', <state names in order of first appearance>, 'O']``."""
    states: List[str] = []
    for record in records:
        states += [name for name in record.states if name not in states]
    return ['I'] + states + ['O']


def tile_shape(image_shape: Tuple[int, int], tile_size: int) -> Tuple[int, int]:
    """``(height, width)`` of a panel: the image scaled so that its longer side is ``tile_size``."""
    height, width = image_shape
    scale = tile_size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def draw_panel(
    visualizer: Visualizer,
    featmap,
    image: np.ndarray,
    *,
    channel_reduction: str,
    alpha: float,
    valid_fraction: Tuple[float, float],
) -> np.ndarray:
    """One ``(C, H, W)`` feature map (cropped to the image, padding dropped) over ``image`` (RGB)."""
    featmap = crop_to_valid(featmap, valid_fraction).float()
    with warnings.catch_warnings():  # draw_featmap warns whenever it resizes the map to the image
        warnings.simplefilter('ignore', UserWarning)
        return visualizer.draw_featmap(
            featmap, image, channel_reduction=channel_reduction, alpha=alpha, resize_shape=image.shape[:2]
        )


def draw_block_grid(
    records: Sequence[BlockRecord],
    image: np.ndarray,
    *,
    tile_size: int = 160,
    channel_reduction: str = 'squeeze_mean',
    alpha: float = 0.5,
    valid_fraction: Tuple[float, float] = (1.0, 1.0),
    title: Optional[str] = None,
    visualizer: Optional[Visualizer] = None,
) -> np.ndarray:
    """The RegNet Fig. 1(a)-style grid of ``records`` (one row each) over ``image`` (RGB uint8).

    Args:
        records: Block records of one image (batch index 0 is drawn), from :class:`BlockCapture`.
        image: The image the network saw (after the test pipeline), RGB ``uint8`` HxWx3.
        tile_size: Longer side of each panel in pixels (the image is rescaled to it).
        channel_reduction: ``'squeeze_mean'`` (mean over channels) or ``'select_max'`` (the channel
            with the largest sum), as in ``Visualizer.draw_featmap``.
        alpha: Weight of the heat map over the image.
        valid_fraction: Fraction of each map that covers the image (the rest is batch padding).
        title: Drawn above the grid.
        visualizer: The Visualizer to draw with (default: a fresh ``mmengine`` one).

    Returns:
        The grid, RGB ``uint8``, of size :class:`GridLayout` ``.size``.
    """
    if not records:
        raise ValueError(
            'records must hold at least one block record (did the forward pass run inside '
            'the BlockCapture context, with blocks selected?)'
        )
    check_choice('channel_reduction', channel_reduction, CHANNEL_REDUCTIONS)
    check_int_range('tile_size', tile_size, 16, 2048)
    visualizer = visualizer or Visualizer()
    columns = grid_columns(records)
    tile = tile_shape(image.shape[:2], tile_size)
    backdrop = mmcv.imresize(image, (tile[1], tile[0]), interpolation='bilinear')
    layout = grid_layout(len(records), len(columns), tile, title)
    canvas = np.full(layout.size + (3,), BACKGROUND, dtype=np.uint8)
    for row, record in enumerate(records):
        maps: Dict[str, object] = dict(record.states, I=record.input, O=record.output)
        for col, name in enumerate(columns):
            top, bottom, left, right = layout.tile_box(row, col)
            if name not in maps:
                canvas[top:bottom, left:right] = EMPTY_PANEL_GREY
                continue
            canvas[top:bottom, left:right] = draw_panel(
                visualizer,
                maps[name][0],
                backdrop,
                channel_reduction=channel_reduction,
                alpha=alpha,
                valid_fraction=valid_fraction,
            )
    return _draw_labels(visualizer, canvas, layout, columns, [r.name for r in records], title)


def block_feature_grid(
    model: nn.Module, prepared: PreparedImage, blocks: Optional[Sequence[BlockSpec]] = DEFAULT_BLOCKS, **draw_kwargs
) -> np.ndarray:
    """Run ``model``'s backbone on ``prepared`` under :class:`BlockCapture` and draw the grid.

    ``model`` (a detector, classifier or backbone) should be in eval mode; ``draw_kwargs`` go to
    :func:`draw_block_grid`.
    """
    backbone = unwrap_backbone(model)
    with torch.no_grad(), BlockCapture(backbone, blocks) as capture:
        backbone(prepared.inputs)
    return draw_block_grid(
        list(capture.records.values()), prepared.image, valid_fraction=prepared.valid_fraction, **draw_kwargs
    )


def grid_layout(rows: int, cols: int, tile: Tuple[int, int], title: Optional[str] = None) -> GridLayout:
    """The :class:`GridLayout` that :func:`draw_block_grid` uses."""
    return GridLayout(rows=rows, cols=cols, tile=tile, title_height=22 if title else 0)


def _draw_labels(
    visualizer: Visualizer,
    canvas: np.ndarray,
    layout: GridLayout,
    columns: Sequence[str],
    row_names: Sequence[str],
    title: Optional[str],
) -> np.ndarray:
    texts, positions, sizes = [], [], []
    if title:
        texts.append(title)
        positions.append((4, 3))
        sizes.append(11)
    for col, name in enumerate(columns):
        top, _, left, _ = layout.tile_box(0, col)
        texts.append(COLUMN_TITLES.get(name, name))
        positions.append((left + 2, top - layout.header_height + 4))
        sizes.append(9)
    for row, name in enumerate(row_names):
        top, bottom, _, _ = layout.tile_box(row, 0)
        texts.append(name)
        positions.append((6, (top + bottom) // 2 - 6))
        sizes.append(10)
    visualizer.set_image(canvas)
    visualizer.draw_texts(texts, np.array(positions), font_sizes=sizes, colors='black')
    drawn = visualizer.get_image()
    if drawn.shape != canvas.shape:  # matplotlib's canvas can round a pixel: keep the layout exact
        drawn = mmcv.imresize(drawn, (canvas.shape[1], canvas.shape[0]))
    return drawn


__all__ = [
    'CHANNEL_REDUCTIONS',
    'DEFAULT_BLOCKS',
    'GridLayout',
    'block_feature_grid',
    'draw_block_grid',
    'draw_panel',
    'grid_columns',
    'grid_layout',
    'tile_shape',
]
