"""The random number generators a training step draws from, as checkpointable state.

A training step draws from up to four generators: Python's ``random`` and numpy's global generator
(data transforms such as mmcv's ``RandomFlip``), torch's default CPU generator and, on GPUs, the
generator of every CUDA device (``torch.rand`` in a model, e.g. RoR's drop-layer, and dropout).
:func:`get_rng_state` captures all of them in a form that ``torch.load(weights_only=True)`` reads
back (tuples, ints, floats and tensors only; numpy's key becomes an int64 tensor), and
:func:`set_rng_state` restores it.
"""

import contextlib
import random
from typing import Any, Dict, Iterator

import numpy as np
import torch

RngState = Dict[str, Any]


def _cuda_in_use() -> bool:
    # Reading the CUDA states would initialise CUDA on a machine that trains on the CPU.
    return torch.cuda.is_available() and torch.cuda.is_initialized()


def get_rng_state() -> RngState:
    """The state of Python's, numpy's, torch's CPU and (when in use) every CUDA generator."""
    version, internal, gauss_next = random.getstate()
    _, key, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state: RngState = dict(
        python=(version, tuple(internal), gauss_next),
        numpy=dict(
            key=torch.from_numpy(key.astype(np.int64)),
            pos=int(pos),
            has_gauss=int(has_gauss),
            cached_gaussian=float(cached_gaussian),
        ),
        torch=torch.get_rng_state(),
    )
    if _cuda_in_use():
        state['torch_cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: RngState) -> None:
    """Restore what :func:`get_rng_state` captured (tensors may come back on any device).

    Raises:
        ValueError: ``state`` holds CUDA generator states for a different number of devices.
    """
    version, internal, gauss_next = state['python']
    random.setstate((version, tuple(internal), gauss_next))
    numpy_state = state['numpy']
    np.random.set_state(
        (
            'MT19937',
            numpy_state['key'].cpu().numpy().astype(np.uint32),
            numpy_state['pos'],
            numpy_state['has_gauss'],
            numpy_state['cached_gaussian'],
        )
    )
    torch.set_rng_state(state['torch'].cpu())
    if 'torch_cuda' in state and torch.cuda.is_available():
        cuda_states = state['torch_cuda']
        if len(cuda_states) != torch.cuda.device_count():
            raise ValueError(
                f'the checkpoint holds CUDA generator states for {len(cuda_states)} devices, '
                f'this process sees {torch.cuda.device_count()}'
            )
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])


@contextlib.contextmanager
def preserved_rng_state() -> Iterator[RngState]:
    """Run the body, then put every generator back where it was; yields the state on entry.

    The training loops wrap validation and the creation of data-loader iterators in this, so that
    neither consumes the random numbers training draws from.
    """
    state = get_rng_state()
    try:
        yield state
    finally:
        set_rng_state(state)


def seed_all(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators with ``seed`` (an int in [0, 2**32))."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


__all__ = ['RngState', 'get_rng_state', 'preserved_rng_state', 'seed_all', 'set_rng_state']
