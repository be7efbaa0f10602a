"""Checkpoint-loading policy under torch >= 2.6: ``weights_only=True`` everywhere.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: it unpickles tensors, containers
and primitive types only, so a checkpoint file cannot run code. mmengine 0.10 calls ``torch.load``
without the argument, which keeps third-party weights (``init_cfg=dict(type='Pretrained')``,
``load_from`` of a downloaded model, the converters) on this safe path -- and we keep it that way:
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is never set and no loader passes ``weights_only=False``.

A checkpoint written by mmengine's Runner (``tools/train.py``) additionally pickles its message
hub: :class:`~mmengine.logging.HistoryBuffer` objects holding numpy arrays and numpy scalars, and
the buffer's statistics methods, which pickle as ``getattr(HistoryBuffer, 'mean')``. Those few
types are allowlisted with :func:`torch.serialization.add_safe_globals` by
:func:`allow_runner_checkpoints`, so resuming and testing one's own training checkpoints works
with ``weights_only=True`` too:

- ``HistoryBuffer`` (a plain data holder whose ``__setstate__`` only stores what it is given);
- numpy's array/scalar reconstruction (``_reconstruct``, ``ndarray``, ``scalar``, ``dtype`` and
  the ``numpy.dtypes`` classes; under both numpy 2's ``numpy._core`` and numpy 1's ``numpy.core``
  paths). Object arrays rebuild their items through the same restricted unpickler;
- ``builtins.getattr`` is **not** allowlisted as such (it would hand out any attribute of any
  loaded object): the name is mapped to :func:`history_buffer_getattr`, which returns only
  ``HistoryBuffer``'s statistics methods and raises for anything else.

No checkpoint is ever loaded with full unpickling.
"""

import pickle
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

SafeGlobal = Union[Callable, Tuple[Callable, str]]

# The methods HistoryBuffer registers itself (``HistoryBuffer._set_default_statistics``).
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'mean', 'current')


def history_buffer_getattr(obj: Any, name: str) -> Callable:
    """``getattr`` restricted to ``HistoryBuffer``'s own statistics methods.

    Stands in for ``builtins.getattr`` while unpickling with ``weights_only=True``.

    Raises:
        pickle.UnpicklingError: For any other object or attribute.
    """
    if obj is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: only HistoryBuffer '
        f'statistics methods {list(HISTORY_BUFFER_STATISTICS)} are allowed'
    )


def _numpy_globals() -> List[SafeGlobal]:
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    items: List[SafeGlobal] = [np.ndarray, np.dtype]
    for prefix in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        items.append((multiarray._reconstruct, f'{prefix}._reconstruct'))
        items.append((multiarray.scalar, f'{prefix}.scalar'))
    if hasattr(np, 'dtypes'):  # numpy >= 1.25 pickles some dtypes by their class
        for name in (
            'bool',
            'int8',
            'int16',
            'int32',
            'int64',
            'uint8',
            'uint16',
            'uint32',
            'uint64',
            'float16',
            'float32',
            'float64',
        ):
            dtype_class = type(np.dtype(name))
            items.append((dtype_class, f'numpy.dtypes.{dtype_class.__name__}'))
    return items


def runner_checkpoint_safe_globals() -> List[SafeGlobal]:
    """The globals a checkpoint of mmengine's Runner needs beyond torch's defaults."""
    return [HistoryBuffer, (history_buffer_getattr, 'builtins.getattr')] + _numpy_globals()


def allow_runner_checkpoints() -> None:
    """Allowlist :func:`runner_checkpoint_safe_globals` for ``weights_only`` loads (idempotent)."""
    torch.serialization.add_safe_globals(runner_checkpoint_safe_globals())


__all__ = [
    'HISTORY_BUFFER_STATISTICS',
    'allow_runner_checkpoints',
    'history_buffer_getattr',
    'runner_checkpoint_safe_globals',
]
