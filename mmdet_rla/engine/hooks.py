"""``ResumableCheckpointHook``: mmengine's ``CheckpointHook`` for runs that get interrupted.

What it adds to ``CheckpointHook`` (same arguments, same file names and ``max_keep_ckpts``):

- **Resume state in every checkpoint** (key ``'resume_state'``): each process's random generator
  states and the position of its next batch (from the resumable training loops of
  :mod:`mmdet_rla.engine.loops`), gathered from every rank to the writing one. On resume each rank
  gets its own back, and the run continues exactly as if it had never stopped. A checkpoint
  without this state (an older run, another tool) still resumes, with a warning that the
  continuation will not be exact.
- **Checkpoint on pre-emption.** On one of ``stop_signals`` (default SIGTERM, which Slurm and
  torchrun send first, and SIGUSR1, which Slurm's ``--signal`` sends before a time limit) the
  current iteration finishes, every rank agrees to stop after it (a one-element all-reduce per
  iteration), a checkpoint ``iter_<n>.pth`` and ``last_checkpoint`` are written, and the process
  exits with status :data:`PREEMPTED_EXIT_CODE` (75, ``EX_TEMPFAIL``: "try again"). A signal
  during validation takes effect after the next training iteration.
- **Crash safety.** Local checkpoints and ``last_checkpoint`` are written atomically (temporary
  file, fsync, rename; :mod:`mmdet_rla.engine.checkpoint_files`), a new checkpoint is complete
  and named by ``last_checkpoint`` before outdated ones are removed, so ``kill -9`` at any moment
  leaves a valid checkpoint to resume from. ``resume=True`` without ``load_from`` (``--resume``
  without a path) takes the newest checkpoint that loads and says which; a missing, truncated or
  foreign file given as ``load_from`` or ``--resume PATH`` fails up front with an error naming it.
"""

import os.path as osp
import re
import signal
import threading
from typing import Dict, Optional, Sequence, Union

import torch
from mmengine.dist import all_gather_object, all_reduce, get_rank, get_world_size, is_main_process
from mmengine.fileio.io import _parse_uri_prefix
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

from .checkpoint_files import (
    LAST_CHECKPOINT,
    atomic_write,
    check_resumable,
    find_newest_valid_checkpoint,
    load_checkpoint_file,
    remove_partial_files,
)
from .loops import CONFIG_HINT, ResumableTrainLoopMixin
from .random_state import get_rng_state, set_rng_state

#: Exit status of a run stopped by a stop signal after writing a resumable checkpoint
#: (``EX_TEMPFAIL`` of sysexits.h: a temporary failure, to be retried). Requeue on it.
PREEMPTED_EXIT_CODE = 75
#: File name of the checkpoint written on a stop signal.
PREEMPTED_FILENAME_TMPL = 'iter_{}.pth'
DEFAULT_STOP_SIGNALS = ('SIGTERM', 'SIGUSR1')
RESUME_STATE_KEY = 'resume_state'
PREEMPTED_CKPTS_KEY = 'preempted_ckpts'  # message hub: pre-emption checkpoints not yet superseded
RESUME_STATE_VERSION = 1


class TrainingPreempted(SystemExit):
    """Raised once the pre-emption checkpoint is written; exits with :data:`PREEMPTED_EXIT_CODE`."""

    def __init__(self, checkpoint: str, signal_name: str) -> None:
        super().__init__(PREEMPTED_EXIT_CODE)
        self.checkpoint = checkpoint
        self.signal_name = signal_name


def _parse_signal(value: Union[str, int]) -> signal.Signals:
    try:
        if isinstance(value, str):
            return signal.Signals[value if value.startswith('SIG') else f'SIG{value}']
        return signal.Signals(value)
    except (KeyError, ValueError):
        names = sorted(s.name for s in signal.Signals)
        raise ValueError(f'stop_signals must name signals among {names}, got {value!r}') from None


def _is_local(path: str) -> bool:
    return _parse_uri_prefix(str(path)) == ''


@HOOKS.register_module()
class ResumableCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with exact resume, pre-emption checkpoints and atomic writes.

    Args:
        stop_signals: Signals (names or numbers) that stop training with a checkpoint after the
            current iteration. Default (``None``): SIGTERM and SIGUSR1 (where it exists); ``()``
            switches this off.
        slow_write: For crash tests only: spread every checkpoint write over this many seconds.
        **kwargs: ``CheckpointHook``'s arguments (``interval``, ``by_epoch``, ``max_keep_ckpts``,
            ``save_best``, ``out_dir``, ``backend_args``, ...).
    """

    def __init__(
        self, *args, stop_signals: Optional[Sequence[Union[str, int]]] = None, slow_write: float = 0.0, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        if stop_signals is None:  # SIGUSR1 does not exist on Windows
            stop_signals = [name for name in DEFAULT_STOP_SIGNALS if hasattr(signal, name)]
        elif isinstance(stop_signals, (str, int)):
            stop_signals = (stop_signals,)
        self.stop_signals = tuple(_parse_signal(value) for value in stop_signals)
        if isinstance(slow_write, bool) or not isinstance(slow_write, (int, float)) or slow_write < 0:
            raise ValueError(f'slow_write must be a number of seconds >= 0, got {slow_write!r}')
        self.slow_write = float(slow_write)
        self._received_signal: Optional[int] = None
        self._previous_handlers: Dict[signal.Signals, object] = {}
        self._resume_state_to_save: Optional[dict] = None
        self._loaded_resume_state: Optional[dict] = None
        self._last_saved_iter: Optional[int] = None
        self._warned_plain_loop = False

    # -------------------------------------------------------------- before training: what to load
    def before_run(self, runner) -> None:
        """Resolve ``--resume`` without a path to the newest valid checkpoint; check ``load_from``.

        Runs before the Runner loads anything. The Runner has no public setter for what it
        resumes from, hence ``_resume`` / ``_load_from``.
        """
        if runner._resume and runner._load_from is None:
            directory = self._checkpoint_dir(runner)
            if not _is_local(directory):
                return  # remote storage: mmengine's own last_checkpoint lookup
            patterns = {re.sub(r'\{[^}]*\}', '*', tmpl) for tmpl in (self.filename_tmpl, PREEMPTED_FILENAME_TMPL)}
            found, rejected = find_newest_valid_checkpoint(directory, sorted(patterns))
            for path, reason in rejected:
                runner.logger.warning(f'Resume: skipping {path}: {reason}')
            if found is None:
                runner.logger.warning(f'Resume: no valid checkpoint in {directory}: training starts from the beginning')
                runner._resume = False
            else:
                runner.logger.info(f'Resume: the newest valid checkpoint is {found}')
                runner._load_from = found
        elif runner._load_from is not None and _is_local(runner._load_from):
            checkpoint = load_checkpoint_file(runner._load_from, mmap=True)
            if runner._resume:
                check_resumable(runner._load_from, checkpoint)

    def _checkpoint_dir(self, runner) -> str:
        """Where ``before_train`` will put the checkpoints (``CheckpointHook``'s rule)."""
        out_dir = self.out_dir if self.out_dir is not None else runner.work_dir
        if out_dir != runner.work_dir:
            out_dir = osp.join(out_dir, osp.basename(runner.work_dir.rstrip(osp.sep)))
        return out_dir

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._loaded_resume_state = checkpoint.get(RESUME_STATE_KEY) if isinstance(checkpoint, dict) else None

    # ------------------------------------------------------------------------- training starts
    def before_train(self, runner) -> None:
        if self.backend_args is None and self.file_client_args is None and _is_local(self._checkpoint_dir(runner)):
            self.backend_args = dict(backend='atomic_local', slow_write=self.slow_write)
        super().before_train(runner)
        if is_main_process() and _is_local(self.out_dir):
            for path in remove_partial_files(self.out_dir):
                runner.logger.info(f'Removed {path}, left by an interrupted checkpoint write')
        if runner.iter > 0:  # resumed (the Runner set the loop's counters from the checkpoint)
            self._hand_over_resume_state(runner)
        self._install_signal_handlers(runner)

    def _hand_over_resume_state(self, runner) -> None:
        saved, self._loaded_resume_state = self._loaded_resume_state, None
        state = None
        if saved is None:
            runner.logger.warning(
                'The checkpoint has no resume state (it was written without ResumableCheckpointHook): training '
                'continues from its weights, optimizer and schedule, but random generators and data-loader '
                'workers start afresh, so the continuation will not be exactly the run that was interrupted'
            )
        elif saved.get('world_size') != get_world_size():
            runner.logger.warning(
                f'The checkpoint was written by {saved.get("world_size")} processes, this run has '
                f'{get_world_size()}: the data are split differently, so the continuation will not be exact'
            )
        else:
            state = saved['ranks'][get_rank()]
        loop = runner.train_loop
        if isinstance(loop, ResumableTrainLoopMixin):
            loop.resume_from(state)
        else:
            self._warn_plain_loop(runner)
            if state is not None:
                set_rng_state(state['rng'])

    def _warn_plain_loop(self, runner) -> None:
        if not self._warned_plain_loop:
            self._warned_plain_loop = True
            runner.logger.warning(
                f'{type(runner.train_loop).__name__} is not a resumable loop: checkpoints keep the random '
                f'generator states, but a resumed run restarts its epoch and its data workers; for exact '
                f'resume configure {CONFIG_HINT}'
            )

    # ---------------------------------------------------------------------------- stop signals
    def _install_signal_handlers(self, runner) -> None:
        if not self.stop_signals:
            return
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning(
                'Training runs outside the main thread: stop signals cannot be caught there, '
                'so no checkpoint is written on pre-emption'
            )
            return
        self._received_signal = None
        for sig in self.stop_signals:
            self._previous_handlers[sig] = signal.signal(sig, self._on_stop_signal)

    def _on_stop_signal(self, signum: int, frame) -> None:
        if self._received_signal is None:
            self._received_signal = signum

    def _restore_signal_handlers(self) -> None:
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers = {}

    def after_train(self, runner) -> None:
        super().after_train(runner)
        self._restore_signal_handlers()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        if not self._previous_handlers:
            return
        stop = torch.tensor([0 if self._received_signal is None else 1])
        if get_world_size() > 1:
            all_reduce(stop, op='max')  # every rank stops after the same iteration
        if stop.item():
            self._stop(runner)

    def _stop(self, runner) -> None:
        signal_name = (
            signal.Signals(self._received_signal).name
            if self._received_signal is not None
            else "another process's stop signal"
        )
        iterations = runner.iter + 1
        if self._last_saved_iter == iterations:
            checkpoint = self.last_ckpt
        else:
            runner.logger.info(f'Received {signal_name}: saving a checkpoint after iteration {iterations}')
            filename = (self.filename_tmpl if not self.by_epoch else PREEMPTED_FILENAME_TMPL).format(iterations)
            self._save_checkpoint_with_step(
                runner, iterations, dict(epoch=runner.epoch, iter=iterations), filename=filename
            )
            checkpoint = self.last_ckpt
        self._restore_signal_handlers()
        runner.logger.info(
            f'Stopped by {signal_name} after iteration {iterations}; {checkpoint} holds the run: '
            f'continue it with --resume (exit status {PREEMPTED_EXIT_CODE})'
        )
        raise TrainingPreempted(checkpoint, signal_name)

    # ----------------------------------------------------------------------- writing checkpoints
    def _gather_resume_state(self, runner) -> dict:
        loop = runner.train_loop
        if isinstance(loop, ResumableTrainLoopMixin):
            local = loop.resume_state()
        else:
            self._warn_plain_loop(runner)
            local = dict(rng=get_rng_state())
        states = all_gather_object(local) if get_world_size() > 1 else [local]
        return dict(version=RESUME_STATE_VERSION, world_size=len(states), ranks=states)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._resume_state_to_save is not None:
            checkpoint[RESUME_STATE_KEY] = self._resume_state_to_save

    def _save_checkpoint_with_step(self, runner, step, meta, filename: Optional[str] = None) -> None:
        """``CheckpointHook``'s, reordered for crash safety, with the resume state and atomic writes.

        mmengine removes the outdated checkpoint first and writes ``last_checkpoint`` with a plain
        ``open``: a crash in between leaves ``last_checkpoint`` naming a deleted or half-written
        file. Here the new checkpoint is complete (atomic write) and named by ``last_checkpoint``
        (atomic write) before anything is removed. ``filename`` (pre-emption checkpoints of
        epoch-based runs) bypasses the ``max_keep_ckpts`` rotation of regular checkpoints; with
        ``max_keep_ckpts > 0`` such a checkpoint is removed once a regular one supersedes it.
        """
        self._resume_state_to_save = self._gather_resume_state(runner)  # collective: every rank
        outdated = None
        if filename is None and self.max_keep_ckpts > 0:
            if not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    outdated = self.file_backend.join_path(
                        self.out_dir, self.filename_tmpl.format(self.keep_ckpt_ids.popleft())
                    )
                self.keep_ckpt_ids.append(step)
                runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        ckpt_filename = filename or self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        # Pre-emption checkpoints outside the rotation go once a regular one supersedes them.
        preempted = list(runner.message_hub.get_info(PREEMPTED_CKPTS_KEY, []))
        superseded = []
        if filename is not None:
            runner.message_hub.update_info(PREEMPTED_CKPTS_KEY, preempted + [self.last_ckpt])
        elif preempted and self.max_keep_ckpts > 0:
            superseded = preempted
            runner.message_hub.update_info(PREEMPTED_CKPTS_KEY, [])
        try:
            runner.save_checkpoint(
                self.out_dir,
                ckpt_filename,
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args,
            )
        finally:
            self._resume_state_to_save = None
        self._last_saved_iter = meta['iter']
        if not is_main_process():
            return
        pointer = osp.join(runner.work_dir, LAST_CHECKPOINT)
        atomic_write(pointer, str(self.last_ckpt).encode('utf-8'))
        for path in ([outdated] if outdated is not None else []) + superseded:
            if path == self.last_ckpt:
                continue
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # checkpoints saved by deepspeed are directories
                self.file_backend.rmtree(path)


__all__ = [
    'PREEMPTED_EXIT_CODE',
    'PREEMPTED_FILENAME_TMPL',
    'RESUME_STATE_KEY',
    'ResumableCheckpointHook',
    'TrainingPreempted',
]
