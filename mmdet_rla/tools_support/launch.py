"""Distributed set-up for the tools, with a CPU path that mmengine lacks.

mmengine's ``init_dist`` calls ``torch.cuda.set_device`` for every launcher, so it fails on a
machine without a GPU, and the Runner's default DDP wrapper passes ``device_ids=[LOCAL_RANK]``,
which DDP rejects for a CPU module. On a CPU-only machine :func:`setup_distributed` therefore

1. turns the launcher's environment (torchrun's ``RANK``/``WORLD_SIZE``/``MASTER_*``, Slurm's
   ``SLURM_*``, Open MPI's ``OMPI_COMM_WORLD_*``) into torch's ``env://`` variables,
2. initialises the default process group with the **gloo** backend itself (the Runner then sees an
   initialised group and skips ``init_dist``),
3. records ``env_cfg.dist_cfg.backend='gloo'`` in the config and makes the model wrapper an
   ``MMDistributedDataParallel`` with ``device_ids=None``.

With a GPU nothing is changed: mmengine's own path (NCCL by default) runs.
"""

import datetime
import os
import subprocess
import sys
from typing import Optional, Sequence

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict
from mmengine.registry import MODEL_WRAPPERS
from torch.nn.parallel import DistributedDataParallel

from ..utils import check_choice

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
DEFAULT_MASTER_PORT = '29500'  # torch.distributed's default


def _require_env(launcher: str, names: Sequence[str], how: str) -> None:
    """Raise ``ValueError`` naming the launcher and the variables of ``names`` its environment lacks."""
    missing = [name for name in names if name not in os.environ]
    if missing:
        raise ValueError(
            f'--launcher {launcher} expects the environment variables {missing}, which are not set ({how})'
        )


def _export_launcher_env(launcher: str) -> None:
    """Set ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``."""
    env = os.environ
    if launcher == 'slurm':
        needed = ('SLURM_PROCID', 'SLURM_NTASKS') + (() if 'MASTER_ADDR' in env else ('SLURM_NODELIST',))
        _require_env(launcher, needed, 'run it under srun, e.g. with tools/slurm_train.sh or tools/slurm_test.sh')
        env['RANK'] = env['SLURM_PROCID']
        env['WORLD_SIZE'] = env['SLURM_NTASKS']
        env['LOCAL_RANK'] = env.get('SLURM_LOCALID', '0')
        if 'MASTER_ADDR' not in env:
            first_host = subprocess.getoutput(f'scontrol show hostname {env["SLURM_NODELIST"]} | head -n1')
            env['MASTER_ADDR'] = first_host.strip()
    elif launcher == 'mpi':
        _require_env(
            launcher,
            ('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'MASTER_ADDR'),
            "run it under Open MPI's mpirun, with MASTER_ADDR set to the first host",
        )
        env['RANK'] = env['OMPI_COMM_WORLD_RANK']
        env['WORLD_SIZE'] = env['OMPI_COMM_WORLD_SIZE']
        env['LOCAL_RANK'] = env.get('OMPI_COMM_WORLD_LOCAL_RANK', '0')
    _require_env(
        launcher, ('RANK', 'WORLD_SIZE'), 'start the job with torchrun, tools/dist_train.sh or tools/dist_test.sh'
    )
    env.setdefault('LOCAL_RANK', '0')
    env.setdefault('MASTER_ADDR', '127.0.0.1')
    env.setdefault('MASTER_PORT', DEFAULT_MASTER_PORT)


def _cpu_model_wrapper_cfg(cfg: Config) -> ConfigDict:
    """The config's DDP wrapper (or the Runner's default one) with ``device_ids=None``."""
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        # The Runner's own default, minus the device ids it would add.
        wrapper = ConfigDict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False),
        )
    wrapper = ConfigDict(wrapper)
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper_type = MODEL_WRAPPERS.get(wrapper['type']) if isinstance(wrapper['type'], str) else wrapper['type']
    if isinstance(wrapper_type, type) and issubclass(wrapper_type, DistributedDataParallel):
        # An explicit None wins over the Runner's default_args device_ids=[LOCAL_RANK].
        wrapper['device_ids'] = None
    return wrapper


def setup_distributed(cfg: Config, launcher: str) -> Optional[str]:
    """Prepare ``cfg`` (and, on CPU, the process group) for ``launcher``; return the backend.

    Returns ``None`` for ``launcher='none'``, ``'gloo'`` when this function initialised the
    process group on a CPU-only machine, and the backend the Runner will use otherwise.
    """
    check_choice('launcher', launcher, LAUNCHERS)
    cfg.launcher = launcher
    if launcher == 'none':
        return None
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    dist_cfg = env_cfg.setdefault('dist_cfg', ConfigDict(backend='nccl'))
    if torch.cuda.is_available():
        return dist_cfg.get('backend', 'nccl')  # mmengine's init_dist does the rest
    _export_launcher_env(launcher)
    dist_cfg['backend'] = 'gloo'
    if not torch_dist.is_initialized():
        timeout = dist_cfg.get('timeout', None)
        torch_dist.init_process_group(
            backend='gloo',
            init_method='env://',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']),
            timeout=None if timeout is None else datetime.timedelta(seconds=timeout),
        )
    cfg.model_wrapper_cfg = _cpu_model_wrapper_cfg(cfg)
    return 'gloo'


def teardown_distributed() -> bool:
    """Destroy the default process group if one exists (torch warns at exit otherwise).

    The barrier first keeps a rank from tearing gloo down while its peer is still communicating.
    Returns whether a process group was torn down.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
        return True
    return False


def exit_after_distributed_run() -> None:
    """End a tool process whose distributed run finished, skipping the interpreter's finalisation.

    With gloo, a rank sometimes aborted after its work was done and every file written: ``terminate
    called without an active exception`` (SIGABRT), so torchrun, and the job, failed. It was seen
    twice in this project's 2-process tests, intermittently, in spite of the barrier and
    ``destroy_process_group`` above; it comes from torch's C++ threads being destroyed during the
    interpreter's finalisation (pytorch/pytorch#179291 describes the same crash). Everything a run
    writes is closed by then (the Runner's last hook closes the visualizer and its backends; log
    records are flushed as they are written), so the process flushes its standard streams and
    leaves with ``os._exit(0)``. Only for the success path: errors propagate as usual.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


__all__ = ['LAUNCHERS', 'exit_after_distributed_run', 'setup_distributed', 'teardown_distributed']
