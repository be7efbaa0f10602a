"""Training loops that resume exactly where a checkpoint was written, mid-epoch included.

``ResumableEpochBasedTrainLoop`` and ``ResumableIterBasedTrainLoop`` are mmengine's
``EpochBasedTrainLoop`` and ``IterBasedTrainLoop`` (same arguments, same hooks, same logs) with:

- a resumable data loader (:func:`~mmdet_rla.engine.data.make_resumable_dataloader`): resuming
  mid-epoch skips the batches already trained on by generating their indices only (mmengine's
  epoch loop restarts the epoch instead, and its iteration loop loads every skipped batch), and
  every batch's random transforms draw from a seed of its own in data-loader workers;
- the position of the next batch (pass over the data and batches done in it) and the random
  generators' state as checkpoint state (:meth:`ResumableTrainLoopMixin.resume_state`), restored
  right before the first batch of the resumed run;
- validation that leaves the training generators as it found them, so that a run validated
  every epoch draws the same training random numbers as one resumed after a validation.

They need :class:`~mmdet_rla.engine.hooks.ResumableCheckpointHook` as the checkpoint hook, which
puts this state into every checkpoint and hands it back on resume. Our configs switch both on::

    train_cfg = dict(type='ResumableEpochBasedTrainLoop')   # or ResumableIterBasedTrainLoop
    default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'))
"""

import logging
import time
from typing import Optional, Sequence, Tuple, Union

from mmengine.dataset import InfiniteSampler
from mmengine.dist import get_rank
from mmengine.logging import print_log
from mmengine.registry import LOOPS
from mmengine.runner import BaseLoop, EpochBasedTrainLoop, IterBasedTrainLoop
from mmengine.runner.utils import calc_dynamic_intervals
from torch.utils.data import DataLoader

from .data import make_resumable_dataloader
from .random_state import RngState, get_rng_state, preserved_rng_state, set_rng_state

Position = Tuple[int, int]  # (pass over the data, batches of that pass already trained on)

CONFIG_HINT = (
    "train_cfg = dict(type='ResumableEpochBasedTrainLoop') (or 'ResumableIterBasedTrainLoop') and "
    "default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'))"
)


def build_resumable_dataloader(loop_type: str, runner, dataloader: Union[DataLoader, dict]) -> DataLoader:
    """The loop's data loader (built from its config as ``BaseLoop`` does) with a resumable batch sampler.

    Raises:
        ValueError: The runner's checkpoint hook is not a ``ResumableCheckpointHook``.
    """
    from .hooks import ResumableCheckpointHook  # the hook module imports this one

    if not any(isinstance(hook, ResumableCheckpointHook) for hook in runner.hooks):
        raise ValueError(
            f'{loop_type} needs the ResumableCheckpointHook as the checkpoint hook (it writes '
            f'and reads back the resume state); configure {CONFIG_HINT}'
        )
    if isinstance(dataloader, dict):
        dataloader = runner.build_dataloader(
            dataloader, seed=runner.seed, diff_rank_seed=runner._randomness_cfg.get('diff_rank_seed', False)
        )
    return make_resumable_dataloader(dataloader, seed=runner.seed, rank=get_rank())


class ResumableTrainLoopMixin:
    """What both resumable loops add to mmengine's: state for checkpoints and its restoration."""

    def _init_resume_state(self) -> None:
        self._next_position: Position = (0, 0)
        self._validation_entry_rng: Optional[RngState] = None
        self._resume_position: Optional[Position] = None
        self._resume_rng: Optional[RngState] = None

    # ------------------------------------------------------------------ checkpoint state
    def resume_state(self) -> dict:
        """This process's state for a checkpoint: the next batch's position and the generators.

        Inside validation the generators' state is the one validation started from (and will
        restore), i.e. the training state.
        """
        pass_index, batches_done = self._next_position
        rng = self._validation_entry_rng if self._validation_entry_rng is not None else get_rng_state()
        return dict(pass_index=pass_index, batches_done=batches_done, rng=rng)

    def resume_from(self, state: Optional[dict]) -> None:
        """Called on resume (before training starts) with this process's :meth:`resume_state`.

        ``None`` (a checkpoint without resume state): the position is derived from the
        checkpoint's iteration count and the generators keep their freshly seeded state.
        """
        if state is None:
            self._resume_position = self._position_from_iteration()
            self._resume_rng = None
        else:
            self._resume_position = (int(state['pass_index']), int(state['batches_done']))
            self._resume_rng = state['rng']

    def _position_from_iteration(self) -> Position:
        raise NotImplementedError

    def _restore_rng(self) -> None:
        if self._resume_rng is not None:
            set_rng_state(self._resume_rng)
            self._resume_rng = None

    def _validate(self) -> None:
        """Run validation without consuming the training random numbers."""
        with preserved_rng_state() as entry_state:
            self._validation_entry_rng = entry_state
            try:
                self.runner.val_loop.run()
            finally:
                self._validation_entry_rng = None


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(ResumableTrainLoopMixin, EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` that resumes exactly, at epoch boundaries and mid-epoch.

    Arguments as ``EpochBasedTrainLoop``: ``max_epochs``, ``val_begin``, ``val_interval``,
    ``dynamic_intervals``.
    """

    def __init__(
        self,
        runner,
        dataloader,
        max_epochs: int,
        val_begin: int = 1,
        val_interval: int = 1,
        dynamic_intervals: Optional[Sequence[Tuple[int, int]]] = None,
    ) -> None:
        dataloader = build_resumable_dataloader(type(self).__name__, runner, dataloader)
        super().__init__(runner, dataloader, max_epochs, val_begin, val_interval, dynamic_intervals)
        self._init_resume_state()

    def run(self):
        """As ``EpochBasedTrainLoop.run``, with validation that leaves the training generators alone."""
        self.runner.call_hook('before_train')  # the checkpoint hook calls resume_from here
        while self._epoch < self._max_epochs and not self.stop_training:
            self.run_epoch()
            self._decide_current_val_interval()
            if (
                self.runner.val_loop is not None
                and self._epoch >= self.val_begin
                and (self._epoch % self.val_interval == 0 or self._epoch == self._max_epochs)
            ):
                self._validate()
        self.runner.call_hook('after_train')
        return self.runner.model

    def run_epoch(self) -> None:
        """Iterate one epoch, or what is left of it after a mid-epoch resume."""
        skip = self._take_skip()
        if skip == 0:  # an epoch boundary: the state saved after the last epoch precedes this hook
            self._restore_rng()
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        batch_sampler = self.dataloader.batch_sampler
        batch_sampler.pass_index, batch_sampler.batches_to_skip = self._epoch, skip
        self._next_position = (self._epoch, skip)
        batches = iter(self.dataloader)
        self._restore_rng()  # mid-epoch: the state saved after batch `skip - 1`
        for idx, data_batch in enumerate(batches, start=skip):
            self.run_iter(idx, data_batch)
        batch_sampler.batches_to_skip = 0
        self._next_position = (self._epoch + 1, 0)  # what a checkpoint of after_train_epoch resumes at
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def run_iter(self, idx, data_batch: Sequence[dict]) -> None:
        self._next_position = (self._epoch, idx + 1)
        super().run_iter(idx, data_batch)

    def _position_from_iteration(self) -> Position:
        return self._epoch, self._iter - self._epoch * len(self.dataloader)

    def _take_skip(self) -> int:
        """Batches of the current epoch trained on before the resume (0 if not resuming)."""
        if self._resume_position is None:
            return 0
        (pass_index, batches_done), self._resume_position = self._resume_position, None
        if pass_index != self._epoch or not 0 <= batches_done <= len(self.dataloader):
            print_log(
                f'the checkpoint resumes at batch {batches_done} of epoch {pass_index + 1}, but training '
                f'resumes in epoch {self._epoch + 1} of {len(self.dataloader)} batches: starting the epoch '
                'from its first batch',
                logger='current',
                level=logging.WARNING,
            )
            return 0
        if batches_done:
            print_log(
                f'Resuming in the middle of epoch {self._epoch + 1}: skipping the {batches_done} batches '
                'already trained on (indices only, no data loaded)',
                logger='current',
            )
        return batches_done


class _EndlessBatches:
    """Batches pass after pass (as mmengine's ``_InfiniteDataloaderIterator``), from any position."""

    def __init__(self, dataloader) -> None:
        self.dataloader = dataloader
        self.pass_index = 0
        self.batches_done = 0
        self._skip = 0
        self._batches = None

    def start_at(self, pass_index: int, batches_done: int) -> None:
        self.pass_index, self.batches_done, self._skip = pass_index, batches_done, batches_done
        self._batches = None

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            if self._batches is None:
                self._begin_pass()
            try:
                batch = next(self._batches)
            except StopIteration:
                print_log(
                    'Reached the end of the dataloader: it restarts and continues (an InfiniteSampler '
                    'avoids restarting the workers)',
                    logger='current',
                    level=logging.WARNING,
                )
                self.pass_index, self.batches_done, self._batches = self.pass_index + 1, 0, None
                if self.dataloader.num_workers > 0:
                    time.sleep(2)  # as mmengine: "prevent possible deadlock during epoch transition"
                continue
            self.batches_done += 1
            return batch

    def _begin_pass(self) -> None:
        batch_sampler = self.dataloader.batch_sampler
        if hasattr(batch_sampler.sampler, 'set_epoch'):
            batch_sampler.sampler.set_epoch(self.pass_index)
        batch_sampler.pass_index, batch_sampler.batches_to_skip = self.pass_index, self._skip
        self._skip = 0
        self._batches = iter(self.dataloader)


@LOOPS.register_module()
class ResumableIterBasedTrainLoop(ResumableTrainLoopMixin, IterBasedTrainLoop):
    """mmengine's ``IterBasedTrainLoop`` that resumes exactly without loading the skipped batches.

    Arguments as ``IterBasedTrainLoop``: ``max_iters``, ``val_begin``, ``val_interval``,
    ``dynamic_intervals``.
    """

    def __init__(
        self,
        runner,
        dataloader,
        max_iters: int,
        val_begin: int = 1,
        val_interval: int = 1000,
        dynamic_intervals: Optional[Sequence[Tuple[int, int]]] = None,
    ) -> None:
        # IterBasedTrainLoop.__init__ without its first line of work: it starts iterating the data at
        # once, and a started InfiniteSampler cannot go back to the start that a resumed run skips from.
        BaseLoop.__init__(self, runner, build_resumable_dataloader(type(self).__name__, runner, dataloader))
        self._max_iters = int(max_iters)
        if self._max_iters != max_iters:
            raise ValueError(f'max_iters must be an integer, got {max_iters!r}')
        self._max_epochs = 1  # as IterBasedTrainLoop, for compatibility with the epoch-based loop
        self._epoch = 0
        self._iter = 0
        self.val_begin = val_begin
        self.val_interval = val_interval
        self.stop_training = False  # set by EarlyStoppingHook
        self.runner.visualizer.dataset_meta = getattr(self.dataloader.dataset, 'metainfo', None)
        self.dynamic_milestones, self.dynamic_intervals = calc_dynamic_intervals(val_interval, dynamic_intervals)
        self._init_resume_state()
        self.dataloader_iterator = _EndlessBatches(self.dataloader)  # starts iterating at the first batch

    def run(self):
        """As ``IterBasedTrainLoop.run``: resumes at the saved batch, validation leaves the generators alone."""
        self.runner.call_hook('before_train')  # the checkpoint hook calls resume_from here
        self.runner.call_hook('before_train_epoch')
        if self._resume_position is not None:
            pass_index, batches_done = self._resume_position
            self._resume_position = None
            print_log(
                f'Resuming at iteration {self._iter}: skipping {batches_done} batches of pass '
                f'{pass_index + 1} over the data (indices only, no data loaded)',
                logger='current',
            )
            self.dataloader_iterator.start_at(pass_index, batches_done)
        self._restore_rng()
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            data_batch = next(self.dataloader_iterator)
            self.run_iter(data_batch)
            self._decide_current_val_interval()
            if (
                self.runner.val_loop is not None
                and self._iter >= self.val_begin
                and (self._iter % self.val_interval == 0 or self._iter == self._max_iters)
            ):
                self._validate()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model

    def run_iter(self, data_batch: Sequence[dict]) -> None:
        self._next_position = (self.dataloader_iterator.pass_index, self.dataloader_iterator.batches_done)
        super().run_iter(data_batch)

    def _position_from_iteration(self) -> Position:
        if isinstance(self.dataloader.batch_sampler.sampler, InfiniteSampler):
            return 0, self._iter
        return divmod(self._iter, len(self.dataloader))


__all__ = [
    'CONFIG_HINT',
    'ResumableEpochBasedTrainLoop',
    'ResumableIterBasedTrainLoop',
    'ResumableTrainLoopMixin',
    'build_resumable_dataloader',
]
