"""Checkpoint files that survive ``kill -9``: atomic writes, validation, the newest valid checkpoint.

- :func:`atomic_write` writes a file under a temporary name in the same directory (``<name>.part``),
  flushes and fsyncs it, renames it over the target with ``os.replace`` (atomic on POSIX and
  Windows) and fsyncs the directory: a reader sees the old file or the complete new one, never a
  truncated one. :class:`AtomicLocalBackend` is mmengine's local file backend writing this way
  (registered as ``backend='atomic_local'``); the resumable checkpoint hook writes checkpoints and
  ``last_checkpoint`` through it.
- :func:`load_checkpoint_file` loads a checkpoint with ``torch.load(weights_only=True)`` (as every
  load in this project; see :mod:`mmdet_rla.tools_support.checkpoint`) and turns whatever goes
  wrong inside torch's unpickler into a :class:`CheckpointFileError` that names the file and says
  what is wrong with it (missing, empty, truncated, not a PyTorch checkpoint, needs full unpickling).
- :func:`find_newest_valid_checkpoint` is what ``--resume`` without a path resumes from.
"""

import glob
import os
import os.path as osp
import pickle
import time
import zipfile
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.fileio import LocalBackend, register_backend

PARTIAL_SUFFIX = '.part'
LAST_CHECKPOINT = 'last_checkpoint'
ZIP_MAGIC = b'PK\x03\x04'  # torch.save's (default) zip archive format
# The legacy torch.save format starts with a pickled magic number (after the protocol header).
LEGACY_MAGIC = pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)[2:]


class CheckpointFileError(ValueError):
    """A checkpoint file cannot be loaded; the message names the file and the reason."""


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows, where directories cannot be opened (nor need syncing)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes, slow_write: float = 0.0) -> None:
    """Write ``data`` to ``path`` atomically: ``<path>.part``, fsync, ``os.replace``, fsync the directory.

    Args:
        slow_write: For crash tests only: spread the write over this many seconds (10 chunks), so
            that a test can kill the process while a checkpoint is being written.
    """
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    partial = path + PARTIAL_SUFFIX
    try:
        with open(partial, 'wb') as file:
            if slow_write > 0:
                chunk = max(1, -(-len(data) // 10))
                for start in range(0, len(data), chunk):
                    file.write(data[start : start + chunk])
                    file.flush()
                    time.sleep(slow_write / 10)
            else:
                file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        if osp.exists(partial):
            os.remove(partial)
        raise
    _fsync_directory(directory)


class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` whose ``put``/``put_text`` write atomically (:func:`atomic_write`).

    Args:
        slow_write: See :func:`atomic_write` (crash tests only).
    """

    def __init__(self, slow_write: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.slow_write = slow_write

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        atomic_write(str(filepath), obj, self.slow_write)

    def put_text(self, obj: str, filepath: Union[str, os.PathLike], encoding: str = 'utf-8') -> None:
        atomic_write(str(filepath), obj.encode(encoding), self.slow_write)


register_backend('atomic_local', AtomicLocalBackend, force=True)


def _unpickler_reason(error: BaseException) -> str:
    """The informative line of torch's weights_only refusal, e.g. 'Unsupported global: GLOBAL x.Y ...'."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.startswith('WeightsUnpickler error:'):
            detail = line[len('WeightsUnpickler error:') :].strip()
            if not detail and index + 1 < len(lines):
                detail = lines[index + 1]
            return detail
    return lines[0] if lines else type(error).__name__


def check_checkpoint_file(path: str) -> bool:
    """Check from its first and, for a zip archive, last bytes that ``path`` can be a ``torch.save``
    file; return whether it is a zip archive (the format since torch 1.6) rather than a legacy one.

    Raises:
        CheckpointFileError: The file is missing, empty, not a PyTorch checkpoint, or a zip archive cut
            short (one written by a process killed mid-write).
    """
    if osp.isdir(path):
        raise CheckpointFileError(f'checkpoint {path!r} is a directory, not a checkpoint file')
    if not osp.isfile(path):
        raise CheckpointFileError(f'checkpoint {path!r} does not exist')
    if osp.getsize(path) == 0:
        raise CheckpointFileError(f'checkpoint {path!r} is empty (0 bytes): it was never completely written')
    with open(path, 'rb') as file:
        head = file.read(2 + len(LEGACY_MAGIC))
    is_archive = head.startswith(ZIP_MAGIC)
    if not is_archive and not (head[:1] == b'\x80' and head[2:] == LEGACY_MAGIC):
        raise CheckpointFileError(
            f'{path!r} is not a PyTorch checkpoint (neither a torch.save archive nor a '
            f'legacy torch.save file; it starts with {head[:8]!r})'
        )
    if is_archive and not zipfile.is_zipfile(path):  # reads the tail: a zip archive ends with its directory
        raise CheckpointFileError(
            f'checkpoint {path!r} is truncated or corrupted ({osp.getsize(path)} bytes; '
            'the torch.save archive has no end-of-directory record)'
        )
    return is_archive


def load_checkpoint_file(path: str, map_location: Union[str, torch.device] = 'cpu', mmap: bool = False):
    """``torch.load(path, weights_only=True)`` with errors that name the file and the reason.

    Args:
        mmap: Map the tensors' storage instead of reading it (torch.save's zip format only; other
            files are read in full). Cheap for checking a large checkpoint.

    Raises:
        CheckpointFileError: The file is missing, empty, truncated or corrupted, not a PyTorch
            checkpoint, or holds objects that only full unpickling could rebuild.
    """
    is_archive = check_checkpoint_file(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap and is_archive)
    except Exception as error:  # noqa: B902  (torch raises RuntimeError, UnpicklingError, EOFError, KeyError...)
        if 'Weights only load failed' in str(error):
            raise CheckpointFileError(
                f'checkpoint {path!r} holds objects that only full unpickling could rebuild '
                f'({_unpickler_reason(error)}); this project loads checkpoints with weights_only=True '
                'only, so re-save its tensors (e.g. torch.save(state_dict, ...)) from code you trust'
            ) from None
        if is_archive:
            raise CheckpointFileError(
                f'checkpoint {path!r} is truncated or corrupted ({osp.getsize(path)} bytes; '
                f'torch.load: {str(error).splitlines()[0].split(". ")[0]})'
            ) from None
        raise CheckpointFileError(
            f'legacy-format checkpoint {path!r} is truncated or corrupted (torch.load: '
            f'{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ""})'
        ) from None


def check_resumable(path: str, checkpoint) -> None:
    """Raise :class:`CheckpointFileError` unless ``checkpoint`` is a training checkpoint to resume from."""
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get('state_dict'), dict):
        keys = sorted(checkpoint)[:8] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointFileError(
            f'checkpoint {path!r} cannot be resumed from: it holds no training state '
            f'(no state_dict and meta; found {keys}); use load_from to start from its weights'
        )
    meta = checkpoint.get('meta')
    if not isinstance(meta, dict) or 'iter' not in meta or 'epoch' not in meta:
        raise CheckpointFileError(
            f'checkpoint {path!r} cannot be resumed from: its meta has no epoch and iter '
            '(a weights-only file); use load_from to start from its weights'
        )


def find_newest_valid_checkpoint(
    directory: str, patterns: Sequence[str] = ('epoch_*.pth', 'iter_*.pth')
) -> Tuple[Optional[str], List[Tuple[str, str]]]:
    """The most recently written checkpoint in ``directory`` that loads and can be resumed from.

    Candidates are the files of ``directory`` that match ``patterns`` (the checkpoint hook's file
    names: not ``best_*.pth``, which hold no optimizer state) and the file ``last_checkpoint`` names,
    newest first (by modification time; the one ``last_checkpoint`` names wins a tie).

    Returns:
        ``(path or None, [(rejected path, reason), ...])``; the rejected ones were newer.
    """
    candidates = {osp.abspath(path) for pattern in patterns for path in glob.glob(osp.join(directory, pattern))}
    named = None
    pointer = osp.join(directory, LAST_CHECKPOINT)
    if osp.isfile(pointer):
        with open(pointer, encoding='utf-8') as file:
            named = file.read().strip() or None
        if named:
            named = osp.abspath(named)
            candidates.add(named)

    def newest_first(path: str):
        mtime = osp.getmtime(path) if osp.exists(path) else float('inf')  # a missing one is reported first
        return -mtime, path != named, path

    rejected = []
    for path in sorted(candidates, key=newest_first):
        try:
            check_resumable(path, load_checkpoint_file(path, mmap=True))
        except CheckpointFileError as error:
            rejected.append((path, str(error)))
            continue
        return path, rejected
    return None, rejected


def remove_partial_files(directory: str) -> List[str]:
    """Remove the ``*.part`` files an interrupted :func:`atomic_write` left in ``directory``."""
    removed = []
    for path in glob.glob(osp.join(directory, '*' + PARTIAL_SUFFIX)):
        os.remove(path)
        removed.append(path)
    return removed


__all__ = [
    'AtomicLocalBackend',
    'CheckpointFileError',
    'LAST_CHECKPOINT',
    'PARTIAL_SUFFIX',
    'atomic_write',
    'check_checkpoint_file',
    'check_resumable',
    'find_newest_valid_checkpoint',
    'load_checkpoint_file',
    'remove_partial_files',
]
