"""Training that survives interruption: exact resume, checkpoints on pre-emption, crash-safe files.

Importing this package registers, in mmengine's root registries (found from the ``mmdet`` and
``mmpretrain`` scopes alike):

- loops ``ResumableEpochBasedTrainLoop`` and ``ResumableIterBasedTrainLoop`` (:mod:`.loops`);
- the hook ``ResumableCheckpointHook`` (:mod:`.hooks`);
- the hook ``MainProcessLoggerHook`` (:mod:`.logger_hook`): test metrics dumped by one process, not raced
  on by all;
- the hook ``ValidateBeforeTrainHook`` (:mod:`.validate_hook`): the metrics of the model a run starts from;
- the file backend ``atomic_local`` (:mod:`.checkpoint_files`).

Configs switch them on with::

    train_cfg = dict(type='ResumableEpochBasedTrainLoop')
    default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'),
                         logger=dict(type='MainProcessLoggerHook'))
"""

from .checkpoint_files import (
    AtomicLocalBackend,
    CheckpointFileError,
    atomic_write,
    check_checkpoint_file,
    find_newest_valid_checkpoint,
    load_checkpoint_file,
)
from .hooks import PREEMPTED_EXIT_CODE, ResumableCheckpointHook, TrainingPreempted
from .logger_hook import MainProcessLoggerHook
from .loops import ResumableEpochBasedTrainLoop, ResumableIterBasedTrainLoop
from .random_state import get_rng_state, set_rng_state
from .validate_hook import ValidateBeforeTrainHook

__all__ = [
    'AtomicLocalBackend',
    'CheckpointFileError',
    'MainProcessLoggerHook',
    'PREEMPTED_EXIT_CODE',
    'ResumableCheckpointHook',
    'ResumableEpochBasedTrainLoop',
    'ResumableIterBasedTrainLoop',
    'TrainingPreempted',
    'ValidateBeforeTrainHook',
    'atomic_write',
    'check_checkpoint_file',
    'find_newest_valid_checkpoint',
    'get_rng_state',
    'load_checkpoint_file',
    'set_rng_state',
]
