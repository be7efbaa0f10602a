"""A training data loader whose position can be restored without loading the data before it.

mmengine's samplers are already functions of ``(seed, epoch)`` (``DefaultSampler``) or of the seed
alone (``InfiniteSampler``); what a resumed run additionally needs is

- **to start mid-pass without loading the batches before the resume point**:
  :class:`ResumableBatchSampler` wraps the loader's batch sampler (torch's ``BatchSampler``,
  mmdet's ``AspectRatioBatchSampler``, ...) and discards the first ``batches_to_skip`` index
  batches of a pass. Only indices are generated; no image is read and no random number is drawn.
- **data-loader workers whose random numbers do not depend on the past**: with mmengine's
  ``worker_init_fn`` each worker is seeded once, so what a worker draws for batch *k* depends on
  the batches it loaded before, and on which worker gets batch *k*, which changes after a restart.
  Here every batch carries a seed derived from ``(seed, rank, pass, batch index)``
  (:class:`SeededBatch`), and each worker reseeds Python's, numpy's and torch's generators with it
  before loading the batch (:class:`SeedEachBatch`). The transforms of batch *k* thus draw the same
  numbers whichever worker loads it, before or after a restart, with persistent workers or not.
  With ``num_workers=0`` the batches are loaded in the training process from its own generators,
  exactly as without this module, and the checkpoint carries their state.
- **iterator creation that leaves the training generators alone**: torch draws each iterator's
  worker base seed from the loader's ``generator``, i.e. from the global torch generator when it
  has none; :func:`make_resumable_dataloader` gives the loader its own (seeded) generator.
"""

from typing import Callable, Iterator, List, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader, get_worker_info

from .random_state import seed_all


def derive_seed(*values: int) -> int:
    """An int in [0, 2**32) that mixes the non-negative ints ``values`` (numpy's ``SeedSequence``)."""
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1)[0])


def batch_seed(seed: int, rank: int, pass_index: int, batch_index: int) -> int:
    """The seed of batch ``batch_index`` of pass ``pass_index`` on ``rank``."""
    return derive_seed(seed, rank, pass_index, batch_index)


class SeededBatch(list):
    """A batch of dataset indices that carries the seed its transforms draw from in a worker."""

    seed: int

    def __init__(self, indices, seed: int) -> None:
        super().__init__(indices)
        self.seed = seed


class ResumableBatchSampler:
    """Wraps a batch sampler: skips batches without loading them and seeds every batch.

    Args:
        batch_sampler: The loader's batch sampler (an iterable of index lists with ``len``).
        seed: The run's seed (``runner.seed``).
        rank: This process's rank.

    Attributes:
        pass_index: Set by the training loop before each pass over the batch sampler (the epoch
            for epoch-based training); part of each batch's seed.
        batches_to_skip: Index batches still to discard, consumed as the passes go by: a skip
            longer than a finite pass carries over into the next one.
    """

    def __init__(self, batch_sampler, seed: int, rank: int) -> None:
        self.batch_sampler = batch_sampler
        self.seed = seed
        self.rank = rank
        self.pass_index = 0
        self.batches_to_skip = 0

    @property
    def sampler(self):
        """The index sampler (``DistSamplerSeedHook`` calls its ``set_epoch``)."""
        return self.batch_sampler.sampler

    @property
    def batch_size(self) -> Optional[int]:
        return getattr(self.batch_sampler, 'batch_size', None)

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[SeededBatch]:
        pass_index = self.pass_index
        for batch_index, batch in enumerate(self.batch_sampler):
            if self.batches_to_skip > 0:
                self.batches_to_skip -= 1
                continue
            yield SeededBatch(batch, batch_seed(self.seed, self.rank, pass_index, batch_index))


class SeedEachBatch:
    """A ``worker_init_fn``: run the loader's own, then make the worker reseed before each batch.

    The worker's copy of the dataset gets a ``__getitems__`` (torch's batched-fetch protocol, which
    the worker's fetcher calls with the batch's indices) that seeds Python's, numpy's and torch's
    generators with the batch's seed and then loads the samples as before. Only the worker's copy
    changes: the training process's dataset and generators are untouched.
    """

    def __init__(self, worker_init_fn: Optional[Callable[[int], None]] = None) -> None:
        self.worker_init_fn = worker_init_fn

    def __call__(self, worker_id: int) -> None:
        if self.worker_init_fn is not None:
            self.worker_init_fn(worker_id)
        dataset = get_worker_info().dataset
        load_batch = getattr(dataset, '__getitems__', None)

        def getitems(indices: List[int]) -> list:
            if isinstance(indices, SeededBatch):
                seed_all(indices.seed)
            if load_batch is not None:
                return load_batch(indices)
            return [dataset[index] for index in indices]

        dataset.__getitems__ = getitems


def make_resumable_dataloader(loader: DataLoader, seed: int, rank: int) -> DataLoader:
    """The same loader (same dataset, sampler, workers, collate function) with a resumable batch sampler.

    Raises:
        ValueError: ``loader`` does not batch through a batch sampler (``batch_size=None``).
    """
    if isinstance(loader.batch_sampler, ResumableBatchSampler):
        return loader
    if loader.batch_sampler is None:
        raise ValueError(
            'a resumable training loop needs a data loader that batches its samples '
            '(batch_size or batch_sampler set), got batch_size=None'
        )
    generator = loader.generator
    if generator is None:
        generator = torch.Generator()
        generator.manual_seed(derive_seed(seed, rank))
    optional = {}
    if hasattr(loader, 'in_order'):  # torch >= 2.6
        optional['in_order'] = loader.in_order
    return DataLoader(
        loader.dataset,
        batch_sampler=ResumableBatchSampler(loader.batch_sampler, seed, rank),
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        timeout=loader.timeout,
        worker_init_fn=SeedEachBatch(loader.worker_init_fn),
        multiprocessing_context=loader.multiprocessing_context,
        generator=generator,
        prefetch_factor=loader.prefetch_factor,
        persistent_workers=loader.persistent_workers,
        pin_memory_device=loader.pin_memory_device,
        **optional,
    )


__all__ = [
    'ResumableBatchSampler',
    'SeedEachBatch',
    'SeededBatch',
    'batch_seed',
    'derive_seed',
    'make_resumable_dataloader',
]
