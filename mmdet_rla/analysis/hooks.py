"""Runner hooks of the analysis tools: block-feature pictures and test metrics for the vis backends.

:class:`BlockFeaturesHook` draws the block-feature grid of one evaluation image after each evaluation.

The grid (:func:`~mmdet_rla.analysis.featmaps.draw_block_grid`: per block ``I``, the family's state
and ``O``) goes to the Runner's visualizer with ``add_image``, i.e. to every configured vis backend:
``vis_data/vis_image/block_features_<iter>.png`` with mmengine's ``LocalVisBackend``, the *Images*
tab with ``TensorboardVisBackend`` (``tools/train.py --vis-backend tensorboard --vis-features``), so
the pictures of a training run can be followed over its iterations next to its losses and metrics.

:class:`TestMetricsVisHook` sends the metrics of a test run to the vis backends (mmengine's
``LoggerHook`` sends training losses and validation metrics, but only logs and dumps test metrics).
"""

from typing import Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ..utils import check_choice, check_int_range
from .capture import BlockSpec
from .featmaps import CHANNEL_REDUCTIONS, DEFAULT_BLOCKS, block_feature_grid
from .inputs import prepare_sample


@HOOKS.register_module()
class BlockFeaturesHook(Hook):
    """Draw the block-feature grid of one image of the evaluation set after every val/test run.

    Args:
        blocks: Blocks to draw (names such as ``'layer2.1'``, stage names, indices; see
            :func:`~mmdet_rla.analysis.capture.select_blocks`). Default: every block of ``layer2``.
        image_index: Index of the image in the val (test) dataset.
        tile_size: Longer side of each panel in pixels.
        channel_reduction: ``'squeeze_mean'`` or ``'select_max'``.
        name: Name of the image in the vis backends.

    Config: ``custom_hooks = [dict(type='BlockFeaturesHook', blocks=['layer2'])]``.
    """

    priority = 'LOW'

    def __init__(
        self,
        blocks: Optional[Sequence[BlockSpec]] = DEFAULT_BLOCKS,
        image_index: int = 0,
        tile_size: int = 160,
        channel_reduction: str = 'squeeze_mean',
        name: str = 'block_features',
    ) -> None:
        check_int_range('image_index', image_index, 0, 2**31)
        check_int_range('tile_size', tile_size, 16, 2048)
        check_choice('channel_reduction', channel_reduction, CHANNEL_REDUCTIONS)
        self.blocks = list(blocks) if blocks is not None else None
        self.image_index = image_index
        self.tile_size = tile_size
        self.channel_reduction = channel_reduction
        self.name = name

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._draw(runner, runner.val_dataloader, 'val')

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._draw(runner, runner.test_dataloader, 'test')

    @staticmethod
    def _step(runner) -> int:
        """The training iteration, or 0 outside training (``runner.iter`` would build a train loop)."""
        training = runner.message_hub.get_info('max_iters') is not None  # set by RuntimeInfoHook.before_train
        return runner.iter if training else 0

    def _draw(self, runner, dataloader, stage: str) -> None:
        if not is_main_process():  # the visualizer's backends write on the main process only
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        dataset = dataloader.dataset
        if self.image_index >= len(dataset):
            raise ValueError(
                f'image_index must be below the evaluation set size ({len(dataset)}), got {self.image_index}'
            )
        was_training = model.training
        model.eval()
        try:
            prepared = prepare_sample(model, dataset[self.image_index])
            step = self._step(runner)
            grid = block_feature_grid(
                model,
                prepared,
                self.blocks,
                tile_size=self.tile_size,
                channel_reduction=self.channel_reduction,
                title=f'{type(model.backbone).__name__}, {stage}, iteration {step}',
            )
        finally:
            model.train(was_training)
        runner.visualizer.add_image(self.name, grid, step=step)


@HOOKS.register_module()
class TestMetricsVisHook(Hook):
    """Send the numeric metrics of ``runner.test()`` to the visualizer's backends (step 0)."""

    priority = 'LOW'

    def after_test_epoch(self, runner, metrics=None) -> None:
        scalars = {key: value for key, value in (metrics or {}).items() if isinstance(value, (int, float))}
        if scalars:
            runner.visualizer.add_scalars(scalars, step=0)


__all__ = ['BlockFeaturesHook', 'TestMetricsVisHook']
