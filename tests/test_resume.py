"""Training that survives interruption (mmdet_rla/engine): exact resume, pre-emption, crash safety.

In-process Runner runs of tiny RLA and RoR classifiers on the synthetic patterns dataset compare
interrupted-and-resumed runs with uninterrupted ones, bit for bit; tools/train.py and
tools/dist_train.sh subprocesses get real SIGTERM and SIGKILL.
"""

import functools
import glob
import importlib.util
import json
import os
import os.path as osp
import random
import signal
import socket
import subprocess
import time
from typing import Dict, List, Optional

import pytest
import torch
from conftest import DEMO_CONFIG, PYTHON, REPO_ROOT
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import Runner

from mmdet_rla.engine import (
    PREEMPTED_EXIT_CODE,
    CheckpointFileError,
    atomic_write,
    find_newest_valid_checkpoint,
    load_checkpoint_file,
)
from mmdet_rla.engine.checkpoint_files import check_resumable
from mmdet_rla.engine.hooks import RESUME_STATE_KEY, ResumableCheckpointHook
from mmdet_rla.tools_support.arguments import exit_on_user_error

TOOLS = osp.join(REPO_ROOT, 'tools')
CLS_DEMO_CONFIG = osp.join(
    REPO_ROOT, 'configs', 'classification', '_demo_', 'rla-resnet20-tiny_1xb16_synthetic-patterns.py'
)
RESUMABLE_LOOPS = ('ResumableEpochBasedTrainLoop', 'ResumableIterBasedTrainLoop')
UNLOGGED = ('time', 'data_time', 'memory', 'eta')  # wall-clock figures: differ between any two runs


# ------------------------------------------------------------------------------ the configs
def test_every_training_config_switches_exact_resume_on(monkeypatch):
    """Every config under configs/ (detection, classification, demos) trains with the resumable loop and hook,
    and logs with the ``MainProcessLoggerHook`` (its test-metrics file is not raced on by the ranks).

    Configs added later must conform: this is the list of what to add.
    """
    import mmengine.config.utils as config_utils

    # mmengine re-reads every metafile of mmdet/mmpretrain for each `mmdet::` base: read each once.
    monkeypatch.setattr(config_utils, 'load', functools.lru_cache(maxsize=None)(config_utils.load))
    paths = sorted(glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True))
    assert len(paths) > 100  # detection, classification and the demos
    offenders = []
    for path in paths:
        cfg = Config.fromfile(path)
        train_cfg, hooks = cfg.get('train_cfg', {}), cfg.get('default_hooks', {})
        checkpoint, logger = hooks.get('checkpoint', {}), hooks.get('logger', {})
        if (
            train_cfg.get('type') not in RESUMABLE_LOOPS
            or 'by_epoch' in train_cfg
            or checkpoint.get('type') != 'ResumableCheckpointHook'
            or logger.get('type') != 'MainProcessLoggerHook'
        ):
            offenders.append(
                f'{osp.relpath(path, REPO_ROOT)}: train_cfg={dict(train_cfg)}, '
                f'default_hooks.checkpoint={dict(checkpoint)}, default_hooks.logger={dict(logger)}'
            )
    assert not offenders, (
        'these configs do not switch exact resume and main-process logging on; add '
        "train_cfg = dict(type='ResumableEpochBasedTrainLoop') (or 'ResumableIterBasedTrainLoop'; with _delete_=True "
        "and the loop's arguments where a base sets by_epoch, as mmpretrain's schedules do) and "
        "default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'), "
        "logger=dict(type='MainProcessLoggerHook')):\n" + '\n'.join(offenders)
    )


# ---------------------------------------------------------------- in-process exact resume
@HOOKS.register_module()
class ResumeTestSignalAtIteration(Hook):
    """Test hook: this process sends itself ``signum`` at the end of iteration ``iteration`` (1-based)."""

    def __init__(self, iteration: int, signum: int = signal.SIGUSR1) -> None:
        self.iteration = iteration
        self.signum = signum

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.iteration:
            os.kill(os.getpid(), self.signum)


CASES = [(model, loop, workers) for loop in ('epoch', 'iter') for model in ('rla', 'ror') for workers in (0, 2)]
PREEMPT_AT = dict(epoch=5, iter=6)  # epoch loop: 3 epochs of 3 iterations, so iteration 5 is mid-epoch 2


def tiny_run_cfg(data_root: str, work_dir: str, model: str, loop: str, workers: int, **checkpoint) -> Config:
    """The classification demo shrunk to seconds: 12 images in batches of 4, validation included.

    ``epoch``: 3 epochs of 3 iterations, a checkpoint every epoch. ``iter``: 8 iterations from an
    InfiniteSampler, validation and a checkpoint every 4. Two workers are persistent ones.
    """
    cfg = Config.fromfile(CLS_DEMO_CONFIG)
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = data_root
    cfg.train_dataloader.update(batch_size=4, num_workers=workers, persistent_workers=workers > 0)
    if model == 'ror':  # draws from torch's generator in training (drop-layer) and has Represent masks
        cfg.model.backbone = dict(
            type='RoRResNet',
            depth=20,
            stem_type='cifar',
            base_channels=8,
            represent_ratio=0.1,
            refine_drop_rate=0.5,
            out_indices=(2,),
        )
        cfg.model.head.in_channels = 32
    if loop == 'epoch':
        cfg.train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=3, val_interval=1)
        cfg.param_scheduler = [
            dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=3, T_max=3, convert_to_iter_based=True)
        ]
        checkpoint = dict(dict(interval=1), **checkpoint)
    else:
        cfg.train_cfg = dict(type='ResumableIterBasedTrainLoop', max_iters=8, val_interval=4)
        cfg.train_dataloader.sampler = dict(type='InfiniteSampler', shuffle=True)
        cfg.param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=8, T_max=8)]
        cfg.log_processor = dict(by_epoch=False)
        checkpoint = dict(dict(interval=4, by_epoch=False), **checkpoint)
    cfg.default_hooks.checkpoint = dict(type='ResumableCheckpointHook', stop_signals=('SIGUSR1',), **checkpoint)
    cfg.default_hooks.logger = dict(type='MainProcessLoggerHook', interval=1)
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.basename(work_dir)  # mmengine names its singletons after it: one per run
    cfg.log_level = 'WARNING'
    return cfg


def train(cfg: Config, resume_from: Optional[str] = None) -> Dict:
    """Run ``cfg`` in this process; returns the final weights, the loss history and the exit status."""
    if resume_from is not None:
        cfg.resume, cfg.load_from = True, resume_from
    runner = Runner.from_cfg(cfg)
    try:
        runner.train()
        status = 0
    except SystemExit as stop:
        status = stop.code
    losses = runner.message_hub.get_scalar('train/loss').data[0].tolist()
    workers = getattr(runner.train_dataloader, '_iterator', None)  # persistent workers
    if workers is not None:  # stop them now: left to the garbage collector, they take 5 s each to go
        workers._shutdown_workers()
    return dict(state=runner.model.state_dict(), losses=losses, status=status, work_dir=cfg.work_dir)


def logged(work_dir: str) -> Dict[tuple, dict]:
    """Every scalars.json entry under ``work_dir`` by (kind, step), without wall-clock figures."""
    entries = {}
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as file:
            for entry in map(json.loads, file):
                kind = 'train' if 'loss' in entry else 'val'
                entries[kind, entry['step']] = {k: v for k, v in entry.items() if k not in UNLOGGED}
    return entries


def assert_same_run(resumed: Dict, reference: Dict, resumed_at: int) -> None:
    assert resumed['status'] == 0
    assert resumed['state'].keys() == reference['state'].keys()
    differing = [k for k in reference['state'] if not torch.equal(resumed['state'][k], reference['state'][k])]
    assert not differing, (
        f'{len(differing)} tensors differ after resuming at iteration {resumed_at}, e.g. {differing[:3]}'
    )
    assert resumed['losses'] == reference['losses']  # the history carried over, then the same new losses
    after = logged(resumed['work_dir'])
    assert sorted(step for kind, step in after if kind == 'train')[0] == resumed_at + 1
    expected = logged(reference['work_dir'])
    assert {key: expected[key] for key in after} == after


@pytest.fixture(scope='module')
def reference_runs(tmp_path_factory, synthetic_patterns):
    """Uninterrupted runs, one per case, made on first use."""
    runs = {}

    def get(case):
        if case not in runs:
            work_dir = str(tmp_path_factory.mktemp('-'.join(map(str, case)) + '-reference'))
            runs[case] = train(tiny_run_cfg(synthetic_patterns, work_dir, *case))
            assert runs[case]['status'] == 0
        return runs[case]

    return get


@pytest.mark.parametrize('model,loop,workers', CASES)
def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(
    model, loop, workers, reference_runs, synthetic_patterns, tmp_path
):
    """Bit-identical weights and identical logs after resuming at an epoch boundary and mid-epoch.

    The mid-epoch interruption is a pre-emption: a stop signal after iteration 5 (epoch loop) or 6
    (iteration loop) writes a checkpoint and exits with status 75.
    """
    case = (model, loop, workers)
    reference = reference_runs(case)
    stop_at = PREEMPT_AT[loop]
    preempted_cfg = tiny_run_cfg(synthetic_patterns, str(tmp_path / 'preempted'), *case)
    preempted_cfg.custom_hooks = [dict(type='ResumeTestSignalAtIteration', iteration=stop_at)]
    preempted = train(preempted_cfg)
    assert preempted['status'] == PREEMPTED_EXIT_CODE
    checkpoint = osp.join(preempted['work_dir'], f'iter_{stop_at}.pth')
    with open(osp.join(preempted['work_dir'], 'last_checkpoint')) as pointer:
        assert pointer.read() == checkpoint
    resumed = train(tiny_run_cfg(synthetic_patterns, str(tmp_path / 'mid'), *case), resume_from=checkpoint)
    assert_same_run(resumed, reference, stop_at)
    if loop == 'epoch':  # and from the uninterrupted run's checkpoint after epoch 1 (iteration 3)
        resumed = train(
            tiny_run_cfg(synthetic_patterns, str(tmp_path / 'boundary'), *case),
            resume_from=osp.join(reference['work_dir'], 'epoch_1.pth'),
        )
        assert_same_run(resumed, reference, 3)


def test_a_checkpoint_without_resume_state_resumes_with_a_warning(reference_runs, synthetic_patterns, tmp_path):
    """An older checkpoint (no resume state) continues from its weights, optimizer and schedule, but the
    random generators start afresh: the run differs from the uninterrupted one, and says so."""
    reference = reference_runs(('ror', 'epoch', 0))
    checkpoint = torch.load(osp.join(reference['work_dir'], 'epoch_1.pth'), map_location='cpu')
    del checkpoint[RESUME_STATE_KEY]
    old = str(tmp_path / 'old.pth')
    torch.save(checkpoint, old)
    resumed = train(tiny_run_cfg(synthetic_patterns, str(tmp_path / 'work'), 'ror', 'epoch', 0), resume_from=old)
    assert resumed['status'] == 0 and resumed['losses'][:3] == reference['losses'][:3]
    assert resumed['losses'][3:] != reference['losses'][3:]
    log = ''.join(open(path).read() for path in glob.glob(str(tmp_path / 'work' / '*' / '*.log')))
    assert 'has no resume state' in log and 'will not be exactly the run that was interrupted' in log


def test_resumable_loop_needs_the_resumable_checkpoint_hook(synthetic_patterns, tmp_path):
    cfg = tiny_run_cfg(synthetic_patterns, str(tmp_path), 'rla', 'epoch', 0)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    with pytest.raises(ValueError, match="needs the ResumableCheckpointHook.*type='ResumableCheckpointHook'"):
        Runner.from_cfg(cfg).train()


def test_hook_argument_checks():
    with pytest.raises(ValueError, match='stop_signals must name signals among'):
        ResumableCheckpointHook(stop_signals=('SIGNOPE',))
    with pytest.raises(ValueError, match='slow_write must be a number of seconds >= 0'):
        ResumableCheckpointHook(slow_write=-1)
    assert ResumableCheckpointHook(stop_signals='USR2').stop_signals == (signal.SIGUSR2,)


# ------------------------------------------------------------------------ checkpoint files
def test_atomic_write_leaves_the_old_file_or_the_complete_new_one(tmp_path, monkeypatch):
    path = str(tmp_path / 'file')
    atomic_write(path, b'old')
    atomic_write(path, b'new contents', slow_write=0.01)
    assert open(path, 'rb').read() == b'new contents' and os.listdir(tmp_path) == ['file']

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, 'replace', crash)  # interrupted before the rename
    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, b'never seen')
    assert open(path, 'rb').read() == b'new contents' and os.listdir(tmp_path) == ['file']


@pytest.fixture
def checkpoint_files(tmp_path) -> Dict[str, str]:
    """A valid training checkpoint and broken or foreign files, by kind."""
    import datetime

    files = {}
    valid = dict(meta=dict(epoch=1, iter=3), state_dict=dict(weight=torch.ones(256)), optimizer={})
    files['valid'] = str(tmp_path / 'valid.pth')
    torch.save(valid, files['valid'])
    data = open(files['valid'], 'rb').read()
    files['truncated'] = str(tmp_path / 'truncated.pth')
    open(files['truncated'], 'wb').write(data[: len(data) // 2])
    files['empty'] = str(tmp_path / 'empty.pth')
    open(files['empty'], 'wb').close()
    files['text'] = str(tmp_path / 'notes.pth')
    open(files['text'], 'w').write('not a checkpoint\n')
    files['foreign global'] = str(tmp_path / 'foreign.pth')
    torch.save(dict(meta=dict(time=datetime.date(2024, 1, 1))), files['foreign global'])  # not allowlisted
    files['weights only'] = str(tmp_path / 'weights.pth')
    torch.save(dict(weight=torch.ones(2)), files['weights only'])
    files['missing'] = str(tmp_path / 'missing.pth')
    files['directory'] = str(tmp_path / 'work_dir')
    os.mkdir(files['directory'])
    return files


@pytest.mark.parametrize(
    'kind,reason',
    [
        ('truncated', 'is truncated or corrupted'),
        ('empty', 'is empty'),
        ('text', 'is not a PyTorch checkpoint'),
        ('foreign global', 'only full unpickling could rebuild (Unsupported global: GLOBAL datetime.date'),
        ('missing', 'does not exist'),
        ('directory', 'is a directory, not a checkpoint file'),
    ],
)
def test_unloadable_checkpoints_get_an_error_naming_the_file(checkpoint_files, kind, reason):
    path = checkpoint_files[kind]
    with pytest.raises(CheckpointFileError) as error:
        load_checkpoint_file(path)
    assert path in str(error.value) and reason in str(error.value)
    assert error.value.__cause__ is None  # no traceback from inside the unpickler
    assert error.value.__context__ is None or error.value.__suppress_context__


def test_a_weights_only_file_is_not_resumable(checkpoint_files):
    path = checkpoint_files['weights only']
    with pytest.raises(CheckpointFileError, match='cannot be resumed from.*use load_from'):
        check_resumable(path, load_checkpoint_file(path))
    check_resumable(checkpoint_files['valid'], load_checkpoint_file(checkpoint_files['valid'], mmap=True))


def test_newest_valid_checkpoint_skips_broken_and_dangling_ones(checkpoint_files, tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    now = time.time()
    for age, (name, source) in enumerate(
        [
            ('iter_9.pth', 'truncated'),
            ('best_acc_iter_8.pth', 'valid'),
            ('iter_7.pth', 'valid'),
            ('iter_6.pth', 'valid'),
        ]
    ):
        path = str(work / name)
        os.replace(checkpoint_files[source], path) if source == 'truncated' else torch.save(
            torch.load(checkpoint_files['valid']), path
        )
        os.utime(path, (now - age, now - age))
    (work / 'last_checkpoint').write_text(str(work / 'iter_10.pth'))  # named, never completed
    found, rejected = find_newest_valid_checkpoint(str(work))
    assert found == str(work / 'iter_7.pth')  # best_*: no optimizer state, not a resume candidate
    assert [osp.basename(path) for path, _ in rejected] == ['iter_10.pth', 'iter_9.pth']
    assert 'does not exist' in rejected[0][1] and 'truncated' in rejected[1][1]


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f'{name}_tool', osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tools_refuse_broken_checkpoints_naming_them(checkpoint_files, synthetic_patterns, tmp_path):
    """--resume PATH, load_from and test.py's checkpoint: a clear error before any training or testing."""
    options = ['--work-dir', str(tmp_path), '--cfg-options'] + [
        f'{split}_dataloader.dataset.data_root={synthetic_patterns}' for split in ('train', 'val', 'test')
    ]
    for tool, argv, message in (
        (
            'train',
            ['--resume', checkpoint_files['truncated'], *options],
            r"checkpoint '.*truncated\.pth' is truncated or corrupted",
        ),
        (
            'train',
            ['--resume', checkpoint_files['weights only'], *options],
            r"checkpoint '.*weights\.pth' cannot be resumed from",
        ),
        ('train', [*options, f'load_from={checkpoint_files["text"]}'], r"'.*notes\.pth' is not a PyTorch checkpoint"),
        (
            'test',
            [checkpoint_files['foreign global'], *options],
            r"checkpoint '.*foreign\.pth' holds objects that only full",
        ),
    ):
        with pytest.raises(SystemExit, match=rf'^{tool}\.py: error: {message}'):  # as the command line reports it
            with exit_on_user_error(f'{tool}.py'):
                load_tool(tool).main([CLS_DEMO_CONFIG, *argv])


# ----------------------------------------------------- real signals through the tools
TWO_EPOCHS_OF_FOUR = [
    'train_dataloader.batch_size=2',
    'train_cfg.max_epochs=2',
    'train_cfg.val_interval=2',
    'default_hooks.checkpoint.interval=2',
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def final_weights(path: str) -> Dict[str, torch.Tensor]:
    return load_checkpoint_file(path)['state_dict']


def assert_same_weights(resumed: Dict[str, torch.Tensor], reference: Dict[str, torch.Tensor]) -> None:
    assert resumed.keys() == reference.keys()
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)


def run_to_end(command: List[str], env: Dict[str, str]) -> str:
    proc = subprocess.run(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900
    )
    assert proc.returncode == 0, f'{" ".join(command[:3])} ... failed:\n{proc.stdout[-6000:]}'
    return proc.stdout


def run_until(command: List[str], env: Dict[str, str], trigger: str, act) -> tuple:
    """Start ``command`` in a session of its own, call ``act(proc)`` once a line contains ``trigger``.

    Returns ``(exit status, output)``.
    """
    proc = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if trigger in line:
                act(proc)
                break
        lines.extend(proc.stdout)
        return proc.wait(timeout=600), ''.join(lines)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope='module')
def detector_reference(tmp_path_factory, tiny_demo_options, subprocess_env) -> Dict:
    """The demo detector trained without interruption by tools/train.py: 2 epochs of 4 iterations."""
    work_dir = str(tmp_path_factory.mktemp('detector_reference'))
    run_to_end(
        [
            PYTHON,
            osp.join(TOOLS, 'train.py'),
            DEMO_CONFIG,
            '--work-dir',
            work_dir,
            '--cfg-options',
            *tiny_demo_options,
            *TWO_EPOCHS_OF_FOUR,
        ],
        subprocess_env,
    )
    return dict(work_dir=work_dir, weights=final_weights(osp.join(work_dir, 'epoch_2.pth')))


def test_sigterm_mid_epoch_checkpoints_exits_75_and_resumes_exactly(
    detector_reference, tiny_demo_options, subprocess_env, tmp_path
):
    work_dir = str(tmp_path)
    command = [
        PYTHON,
        '-u',
        osp.join(TOOLS, 'train.py'),
        DEMO_CONFIG,
        '--work-dir',
        work_dir,
        '--cfg-options',
        *tiny_demo_options,
        *TWO_EPOCHS_OF_FOUR,
    ]
    status, out = run_until(
        command, subprocess_env, 'Epoch(train) [1][1/4]', lambda proc: proc.send_signal(signal.SIGTERM)
    )
    assert status == PREEMPTED_EXIT_CODE, out[-3000:]
    with open(osp.join(work_dir, 'last_checkpoint')) as pointer:
        checkpoint = pointer.read()
    stopped_at = load_checkpoint_file(checkpoint)['meta']['iter']
    assert checkpoint == osp.join(work_dir, f'iter_{stopped_at}.pth') and 1 <= stopped_at < 4  # mid-epoch 1
    assert f'Stopped by SIGTERM after iteration {stopped_at}' in out
    out = run_to_end(command[:6] + ['--resume'] + command[6:], subprocess_env)
    assert f'Resume: the newest valid checkpoint is {checkpoint}' in out
    assert_same_weights(final_weights(osp.join(work_dir, 'epoch_2.pth')), detector_reference['weights'])
    reference_log = logged(detector_reference['work_dir'])
    resumed_log = logged(work_dir)
    assert [key for key in resumed_log if key[0] == 'train'][-1] == ('train', 8)
    assert all(resumed_log[key] == reference_log[key] for key in resumed_log if key[1] > stopped_at)


def test_sigterm_to_dist_train_stops_every_rank_at_the_same_iteration(tiny_demo_options, subprocess_env, tmp_path):
    """tools/dist_train.sh, 2 processes (gloo): SIGTERM to the job's process group, as Slurm sends it."""
    options = [*tiny_demo_options, *TWO_EPOCHS_OF_FOUR, 'train_dataloader.batch_size=1']  # 4 iterations per rank

    def dist_train(work_dir: str, *extra: str) -> List[str]:
        return [
            'bash',
            osp.join(TOOLS, 'dist_train.sh'),
            DEMO_CONFIG,
            '2',
            '--work-dir',
            work_dir,
            *extra,
            '--cfg-options',
            *options,
        ]

    reference_dir, work_dir = str(tmp_path / 'reference'), str(tmp_path / 'work')
    run_to_end(dist_train(reference_dir), dict(subprocess_env, PORT=str(free_port())))
    status, out = run_until(
        dist_train(work_dir),
        dict(subprocess_env, PORT=str(free_port())),
        'Epoch(train) [1][1/4]',
        lambda proc: os.killpg(proc.pid, signal.SIGTERM),
    )
    assert status == PREEMPTED_EXIT_CODE, out[-3000:]
    with open(osp.join(work_dir, 'last_checkpoint')) as pointer:
        checkpoint = load_checkpoint_file(pointer.read())
    assert 1 <= checkpoint['meta']['iter'] < 8
    assert checkpoint[RESUME_STATE_KEY]['world_size'] == 2  # both ranks' generators and positions
    assert [rank['batches_done'] for rank in checkpoint[RESUME_STATE_KEY]['ranks']] == [
        (checkpoint['meta']['iter'] - 1) % 4 + 1
    ] * 2
    run_to_end(dist_train(work_dir, '--resume'), dict(subprocess_env, PORT=str(free_port())))
    assert_same_weights(
        final_weights(osp.join(work_dir, 'epoch_2.pth')), final_weights(osp.join(reference_dir, 'epoch_2.pth'))
    )


def test_sigkill_at_random_moments_always_leaves_a_checkpoint_to_continue_from(
    detector_reference, tiny_demo_options, subprocess_env, tmp_path
):
    """kill -9 during a checkpoint write and at random moments; every --resume continues from a valid
    checkpoint, the last one finishes, and the result is the uninterrupted run's."""
    work_dir = str(tmp_path)
    command = [
        PYTHON,
        '-u',
        osp.join(TOOLS, 'train.py'),
        DEMO_CONFIG,
        '--work-dir',
        work_dir,
        '--resume',
        '--cfg-options',
        *tiny_demo_options,
        *TWO_EPOCHS_OF_FOUR,
        'default_hooks.checkpoint.by_epoch=False',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=2',
        'default_hooks.checkpoint.slow_write=0.5',
    ]  # every iteration writes for half a second
    delays = random.Random(0)

    def kill_during_a_write(proc):
        while proc.poll() is None and not glob.glob(osp.join(work_dir, '*.part')):
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)

    def kill_after_a_random_delay(proc):
        time.sleep(delays.uniform(0.0, 1.5))
        os.killpg(proc.pid, signal.SIGKILL)

    resumed_from, partial_left = 0, False
    for kill in (kill_after_a_random_delay, kill_during_a_write, kill_after_a_random_delay, None):
        if kill is None:  # the last run finishes
            status, out = 0, run_to_end(command, subprocess_env)
        else:
            status, out = run_until(command, subprocess_env, 'Epoch(train)', kill)
            assert status == -signal.SIGKILL, out[-3000:]
        if resumed_from:
            assert f'Resume: the newest valid checkpoint is {work_dir}' in out
        assert ('left by an interrupted checkpoint write' in out) == partial_left
        partial_left = bool(glob.glob(osp.join(work_dir, '*.part')))
        pointer = osp.join(work_dir, 'last_checkpoint')
        if osp.exists(pointer):  # never names a missing or truncated file
            checkpoint = open(pointer).read()
            saved = load_checkpoint_file(checkpoint)
            check_resumable(checkpoint, saved)
            assert saved['meta']['iter'] >= resumed_from
            resumed_from = saved['meta']['iter']
    assert resumed_from == 8
    assert_same_weights(final_weights(osp.join(work_dir, 'iter_8.pth')), detector_reference['weights'])


def test_demo_fingerprint_names_the_logged_loss_and_the_weights(detector_reference, capsys):
    """tools/demo/fingerprint.py: what the README quotes to tell whether two demo runs were the same run."""
    spec = importlib.util.spec_from_file_location('fingerprint_tool', osp.join(TOOLS, 'demo', 'fingerprint.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    checkpoint = osp.join(detector_reference['work_dir'], 'epoch_2.pth')
    tool.main([detector_reference['work_dir'], checkpoint, '--iteration', '3'])
    digest = tool.weights_sha256(detector_reference['weights'])
    loss = logged(detector_reference['work_dir'])['train', 3]['loss']
    assert capsys.readouterr().out == f'fingerprint: loss at iteration 3 = {loss:.6f}, weights sha256 = {digest[:16]}\n'
    changed = dict(detector_reference['weights'])
    name = next(key for key, value in changed.items() if value.is_floating_point())
    changed[name] = changed[name].clone()
    changed[name].view(-1)[0] = torch.nextafter(changed[name].view(-1)[0], torch.tensor(float('inf')))
    assert tool.weights_sha256(changed) != digest  # one float one ulp away
    with pytest.raises(ValueError, match='no loss logged at iteration 99'):
        tool.logged_loss(detector_reference['work_dir'], 99)
