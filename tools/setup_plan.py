"""The decisions ``tools/setup_env.sh`` takes about mmcv's compiled ops, in one place the suite can test.

mmcv 2.1.0 has no wheel for the torch this project pins, so the setup compiles it. Which ops it compiles
(CPU only, or CUDA for some GPU architectures), which nvcc compiles them, and under which key the wheel is
cached are decided here, from facts passed in as plain data (the torch probe and the nvcc probes below run
outside the decision functions), so that ``tests/test_setup_plan.py`` can feed made-up machines.

Standard library only: ``setup_env.sh --plan`` runs this file with the system Python before the
environment (and torch) exist. Run as a script it

* ``check``: checks the settings (MMDET_RLA_MMCV_CUDA, MMDET_RLA_NVCC, TORCH_CUDA_ARCH_LIST) before anything
  is installed;
* ``stamp``: prints the setup's idempotence key (the setup files' hash and the inputs of the ops decision);
* ``plan``: prints one line per decision and changes nothing;
* ``shell``: prints the decisions as shell assignments for ``setup_env.sh`` to ``eval``.

Bad input ends in one ``setup_env.sh: error: ...`` line (exit status 1), as the project's tools report it.
"""

import argparse
import dataclasses
import glob
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

PROG = 'setup_env.sh'
MODES = ('auto', '0', '1')
NVCC_MODES = ('auto', 'system', 'registry')

# What TORCH_CUDA_ARCH_LIST defaults to when no GPU is visible (a login node building for its compute nodes):
# the architectures torch's own CUDA 13.0 wheels carry machine code for (torch 2.14.1+cu130 and 2.11.0+cu130
# report sm_75 sm_80 sm_86 sm_90 sm_100 sm_120), so mmcv's ops run on every GPU torch itself runs on. Machine
# code for X.Y also runs on X.Z for Z > Y (8.6 on 8.9, 10.0 on 10.3, 12.0 on 12.1). CUDA 13 dropped the
# architectures below 7.5 (Maxwell, Pascal, Volta).
DEFAULT_ARCHES = {13: ('7.5', '8.0', '8.6', '9.0', '10.0', '12.0')}
# The oldest architecture each CUDA major version's nvcc compiles for.
MIN_ARCH = {13: (7, 5), 12: (5, 0)}
# The names torch's TORCH_CUDA_ARCH_LIST accepts, as torch expands them (combined names first).
NAMED_ARCHES = (
    ('Ampere+Tegra', '8.7'),
    ('Blackwell+Tegra', '11.0'),
    ('Turing', '7.5+PTX'),
    ('Ampere', '8.0;8.6+PTX'),
    ('Ada', '8.9+PTX'),
    ('Hopper', '9.0+PTX'),
    ('Blackwell', '10.0;10.3;12.0;12.1+PTX'),
)
ARCH_PATTERN = re.compile(r'^(\d+)\.(\d+)(a?)(\+PTX)?$')
# nvcc and its companions from the package registry. They must come from one CUDA release: nvidia-cuda-nvcc
# requires nvvm and crt without a version, and pip then brings the newest (with nvcc 13.0.88 and nvvm 13.5.37,
# ptxas 13.0 refused the PTX 9.5 that cicc 13.5 wrote). Even cuda-toolkit 13.0.2's 'nvcc' extra pins nvcc alone.
# So each is pinned: to the versions torch's own cuda-toolkit names (registry_packages), else these, which built
# mmcv 2.1.0.
NVCC_PARTS = ('nvidia-cuda-nvcc', 'nvidia-nvvm', 'nvidia-cuda-crt', 'nvidia-cuda-cccl')
KNOWN_NVCC_PINS = {
    '13.0': (
        'nvidia-cuda-nvcc==13.0.88',
        'nvidia-nvvm==13.0.88',
        'nvidia-cuda-crt==13.0.88',
        'nvidia-cuda-cccl==13.0.85',
    ),
}
# The files whose content the idempotence stamp hashes (those of them that exist).
STAMP_FILES = (
    'tools/setup_env.sh',
    'tools/setup_plan.py',
    'tools/mmcv_build.sh',
    'tools/check_mmcv_ops.py',
    'requirements.txt',
    'setup.py',
    'pyproject.toml',
)
# The environment variables the ops decision reads; a change of any re-runs the setup.
STAMP_VARIABLES = ('MMDET_RLA_MMCV_CUDA', 'TORCH_CUDA_ARCH_LIST', 'CUDA_VISIBLE_DEVICES')


class PlanError(ValueError):
    """A setting or a machine the setup cannot work with; its message is the one line the user sees."""


@dataclasses.dataclass(frozen=True)
class TorchFacts:
    """What the environment's torch says. ``version`` None: torch is not installed (yet), and then ``cuda`` is
    unknown rather than absent. ``gpus``: the compute capabilities of the GPUs torch sees, as ``'9.0'``.
    ``toolkit``: the version of the ``cuda-toolkit`` distribution torch's wheel depends on, if installed, and
    ``toolkit_pins`` the component versions it names (``('nvidia-cuda-nvcc', '13.0.88')``, ...)."""

    version: Optional[str]
    cuda: Optional[str] = None
    gpus: Tuple[str, ...] = ()
    toolkit: Optional[str] = None
    toolkit_pins: Tuple[Tuple[str, str], ...] = ()

    @property
    def installed(self) -> bool:
        return self.version is not None


@dataclasses.dataclass(frozen=True)
class Flavour:
    """The ops an mmcv build carries: ``kind`` 'cpu', or 'cuda' with the CUDA version and the architectures
    (``arches``, as TORCH_CUDA_ARCH_LIST entries) it compiles for. ``cuda`` None with kind 'cuda': the version
    is not known yet (torch not installed). ``why``: the reason, for the plan's line."""

    kind: str
    cuda: Optional[str] = None
    arches: Tuple[str, ...] = ()
    arch_source: str = ''
    why: str = ''

    @property
    def tag(self) -> str:
        """The wheel cache key's part for the ops: ``cpu`` or ``cu13.0-arch8.0_9.0+PTX``."""
        if self.kind == 'cpu':
            return 'cpu'
        return f'cu{self.cuda or "?"}-arch{"_".join(self.arches)}'

    def describe(self) -> str:
        if self.kind == 'cpu':
            return 'cpu'
        cuda = self.cuda or "(torch's CUDA version, known once torch is installed)"
        return f'cuda {cuda}, arches {" ".join(self.arches)}'


@dataclasses.dataclass(frozen=True)
class NvccCandidate:
    """An nvcc found on this machine: its path, the toolkit root it belongs to, and ``nvcc --version``'s
    release (``'13.0.88'``; None when it did not run)."""

    path: str
    root: str
    version: Optional[str]


@dataclasses.dataclass(frozen=True)
class NvccChoice:
    """How the CUDA ops get compiled: ``kind`` 'system' (``candidate``'s toolkit is CUDA_HOME) or 'registry'
    (``packages`` are installed into the environment and their folder is CUDA_HOME). ``notes``: the lines
    that say why a toolkit found on the machine was not used."""

    kind: str
    candidate: Optional[NvccCandidate] = None
    packages: Tuple[str, ...] = ()
    notes: Tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == 'system':
            assert self.candidate is not None
            return (
                f'{self.candidate.path} {self.candidate.version} (system toolkit; '
                f'CUDA_HOME={self.candidate.root} for the build)'
            )
        return f'registry: would install {" ".join(self.packages)} into the environment (CUDA_HOME for the build)'


# ----------------------------------------------------------------------------------------------- decisions
def parse_mode(value: Optional[str]) -> str:
    """MMDET_RLA_MMCV_CUDA's value: unset or empty is ``auto``."""
    mode = (value or 'auto').strip().lower()
    if mode not in MODES:
        raise PlanError(
            f'MMDET_RLA_MMCV_CUDA must be one of {", ".join(MODES)} (auto: CUDA ops where a GPU is '
            f'visible; 1: CUDA ops; 0: CPU-only ops), got {value!r}'
        )
    return mode


def parse_nvcc_mode(value: Optional[str]) -> str:
    """MMDET_RLA_NVCC's value: ``auto`` (a system toolkit of torch's CUDA major version, else the registry's),
    ``system`` or ``registry``."""
    mode = (value or 'auto').strip().lower()
    if mode not in NVCC_MODES:
        raise PlanError(f'MMDET_RLA_NVCC must be one of {", ".join(NVCC_MODES)}, got {value!r}')
    return mode


def cuda_major(cuda: str) -> int:
    return int(cuda.split('.')[0])


def _arch_key(arch: str) -> Tuple[int, int, str, str]:
    match = ARCH_PATTERN.match(arch)
    assert match is not None, arch
    return int(match.group(1)), int(match.group(2)), match.group(3), match.group(4) or ''


def parse_arch_list(text: str, cuda: Optional[str]) -> Tuple[str, ...]:
    """TORCH_CUDA_ARCH_LIST as torch reads it (';' or spaces between entries, names such as ``Hopper``
    expanded), checked: each entry a compute capability (``9.0``, ``9.0a``, ``8.6+PTX``) that CUDA ``cuda``'s
    nvcc compiles for. Returns the entries sorted and without repeats."""
    expanded = text.replace(' ', ';')
    for name, arches in NAMED_ARCHES:
        expanded = expanded.replace(name, arches)
    entries = [entry for entry in expanded.split(';') if entry]
    oldest = MIN_ARCH.get(cuda_major(cuda)) if cuda else None
    allowed = (
        'compute capabilities such as 8.0, 9.0a or 12.0+PTX'
        + (f' from {oldest[0]}.{oldest[1]} up' if oldest else '')
        + ", ';'- or space-separated, or the names Turing, Ampere, Ada, Hopper, Blackwell"
    )
    if not entries:
        raise PlanError(f'TORCH_CUDA_ARCH_LIST is empty: give {allowed}')
    for entry in entries:
        match = ARCH_PATTERN.match(entry)
        if match is None:
            raise PlanError(f'TORCH_CUDA_ARCH_LIST: {entry!r} is not an architecture; give {allowed}')
        if oldest and (int(match.group(1)), int(match.group(2))) < oldest:
            raise PlanError(f'TORCH_CUDA_ARCH_LIST: CUDA {cuda} does not compile for {entry}; give {allowed}')
    with_ptx = {entry[: -len('+PTX')] for entry in entries if entry.endswith('+PTX')}
    kept = {entry for entry in entries if entry not in with_ptx}  # 9.0 next to 9.0+PTX: 9.0+PTX says both
    return tuple(sorted(kept, key=_arch_key))


def choose_arches(user_value: Optional[str], gpus: Sequence[str], cuda: Optional[str]) -> Tuple[Tuple[str, ...], str]:
    """The architectures to compile for, and where they came from: the user's TORCH_CUDA_ARCH_LIST wins; else
    the visible GPUs' compute capabilities; else the default for torch's CUDA major version
    (:data:`DEFAULT_ARCHES`)."""
    if user_value and user_value.strip():
        return parse_arch_list(user_value, cuda), 'TORCH_CUDA_ARCH_LIST'
    if gpus:
        return tuple(sorted(set(gpus), key=_arch_key)), 'the visible GPUs'
    if cuda is None:
        return (), "the default for torch's CUDA version"
    default = DEFAULT_ARCHES.get(cuda_major(cuda))
    if default is None:
        raise PlanError(
            f'no default architecture list is known for CUDA {cuda}: set TORCH_CUDA_ARCH_LIST '
            '(for example 8.0;9.0) to the compute capabilities of the GPUs the ops will run on'
        )
    return default, f'the default for CUDA {cuda_major(cuda)} (GPUs torch itself supports)'


def decide_flavour(mode: str, torch: TorchFacts, user_arches: Optional[str] = None) -> Flavour:
    """CPU or CUDA ops. ``auto``: CUDA where torch sees a GPU and is a CUDA build; ``1``: CUDA (a login node
    building for its compute nodes), which needs a CUDA build of torch; ``0``: CPU only (the build hides the
    GPU from mmcv's setup.py, which would otherwise compile CUDA ops whatever FORCE_CUDA says)."""
    mode = parse_mode(mode)
    if mode == '0':
        why = 'MMDET_RLA_MMCV_CUDA=0'
        if torch.gpus:
            why += ': mmcv ops on CUDA tensors (nms, ...) will fail on this GPU machine'
        return Flavour('cpu', why=why)
    if torch.installed and torch.cuda is None:
        if mode == '1':
            raise PlanError(
                f'MMDET_RLA_MMCV_CUDA=1 asks for CUDA ops, but torch {torch.version} is a CPU-only '
                'build: install a CUDA build of torch, or use MMDET_RLA_MMCV_CUDA=auto or 0'
            )
        why = 'no GPU visible' if not torch.gpus else f'torch {torch.version} is a CPU-only build'
        return Flavour('cpu', why=why)
    if mode == 'auto' and not torch.gpus:
        return Flavour('cpu', why='no GPU visible, MMDET_RLA_MMCV_CUDA=auto')
    arches, source = choose_arches(user_arches, torch.gpus, torch.cuda)
    why = 'MMDET_RLA_MMCV_CUDA=1' if mode == '1' else f'{len(torch.gpus)} GPU(s) visible, MMDET_RLA_MMCV_CUDA=auto'
    return Flavour('cuda', cuda=torch.cuda, arches=arches, arch_source=source, why=why)


def wheel_prefix(mmcv_version: str, torch_version: str, pytag: str, machine: str) -> str:
    """The cache folders' name up to the ops: every wheel under it fits this torch, Python and machine."""
    return f'mmcv-{mmcv_version}-torch{torch_version}-{pytag}-{machine}'


def wheel_key(mmcv_version: str, torch_version: str, pytag: str, machine: str, flavour: Flavour) -> str:
    """The cache folder's name of a wheel: ``mmcv-2.1.0-torch2.14.1+cu130-cp311-x86_64-cpu`` or
    ``...-cu13.0-arch9.0``. torch's version carries its CUDA build (``+cu130``): a wheel compiled against
    one torch build is not reused with another."""
    return f'{wheel_prefix(mmcv_version, torch_version, pytag, machine)}-{flavour.tag}'


def parse_tag(tag: str) -> Optional[Flavour]:
    """The flavour a cache folder's ops tag names (:attr:`Flavour.tag`), or None for anything else."""
    if tag == 'cpu':
        return Flavour('cpu')
    match = re.match(r'^cu(\d+\.\d+)-arch(.+)$', tag)
    if match is None:
        return None
    arches = tuple(match.group(2).split('_'))
    if not all(ARCH_PATTERN.match(arch) for arch in arches):
        return None
    return Flavour('cuda', cuda=match.group(1), arches=arches)


def covers(arches: Iterable[str], capability: str) -> bool:
    """Whether code compiled for ``arches`` runs on a GPU of compute capability ``capability``: machine code
    for X.Y runs on X.Z with Z >= Y (``a`` variants only on X.Y itself), PTX for X.Y on anything newer."""
    cap = tuple(int(part) for part in capability.split('.'))
    for arch in arches:
        major, minor, arch_specific, ptx = _arch_key(arch)
        if arch_specific:
            if (major, minor) == cap:
                return True
        elif major == cap[0] and minor <= cap[1]:
            return True
        if ptx and (major, minor) <= cap:
            return True
    return False


def choose_cached(
    prefix: str,
    flavour: Flavour,
    mode: str,
    gpus: Sequence[str],
    user_arches: Optional[str],
    cached: Iterable[str],
    legacy: Optional[str] = None,
) -> Optional[str]:
    """The cached wheel folder to install from instead of building (``cached``: the names of the cache's
    folders that hold a wheel), or None to build one.

    The exact key first. A CUDA wheel serves where it can: on a machine without a GPU in ``auto`` mode (its
    CPU ops are the same; a login node's ``MMDET_RLA_MMCV_CUDA=1`` build is then reused everywhere), and on
    a GPU machine whose GPUs all run one of its architectures, unless the user named the architectures.
    A CPU-only wheel is never chosen for CUDA ops.

    ``legacy``: the folder name earlier setups used (``mmcv-2.1.0-torch2.14.1-cp311-x86_64``, without torch's
    CUDA build or the ops). Its wheel was built with mmcv's defaults: CPU-only ops on a machine without a GPU,
    CUDA ops for the GPUs of a machine with one. Its CPU ops serve in ``auto`` mode on a machine without a GPU,
    as a CUDA wheel's do; nowhere else."""
    names = sorted(set(cached))
    exact = f'{prefix}-{flavour.tag}'
    if exact in names:
        return exact
    if legacy and legacy in names and flavour.kind == 'cpu' and mode == 'auto' and not gpus:
        return legacy
    candidates = []
    for name in names:
        if not name.startswith(prefix + '-'):
            continue
        found = parse_tag(name[len(prefix) + 1 :])
        if found is None or found.kind != 'cuda':
            continue
        if flavour.kind == 'cpu' and mode == 'auto' and not gpus:
            candidates.append((len(found.arches), name))
        elif (
            flavour.kind == 'cuda'
            and found.cuda == flavour.cuda
            and gpus
            and not (user_arches or '').strip()
            and all(covers(found.arches, gpu) for gpu in gpus)
        ):
            candidates.append((-len(found.arches), name))  # the fewest arches: the one built for these GPUs
    return max(candidates)[1] if candidates else None


def check_install(flavour: Flavour, mode: str, gpus: Sequence[str], torch_cuda: Optional[str]) -> None:
    """Refuses to install CPU-only ops where a GPU is visible to a CUDA build of torch (its first nms on a
    CUDA tensor would fail), unless MMDET_RLA_MMCV_CUDA=0 asked for exactly that."""
    if flavour.kind == 'cpu' and gpus and torch_cuda and parse_mode(mode) != '0':
        raise PlanError(
            f'refusing to install a CPU-only mmcv on a machine with {len(gpus)} visible GPU(s): its '
            'ops would fail on CUDA tensors (set MMDET_RLA_MMCV_CUDA=0 if that is what you want)'
        )


def parse_nvcc_version(text: str) -> Optional[str]:
    """``nvcc --version``'s ``V13.0.88`` (or ``release 13.0``) as ``'13.0.88'``."""
    match = re.search(r'\bV(\d+\.\d+(?:\.\d+)?)', text) or re.search(r'release (\d+\.\d+)', text)
    return match.group(1) if match else None


def parse_nvcc_root(text: str) -> Optional[str]:
    """The toolkit root in ``nvcc --dryrun``'s output (the folder above its ``_HERE_``), or None."""
    match = re.search(r'^#\$ _HERE_=(.+)$', text, re.MULTILINE)
    return os.path.dirname(match.group(1).strip().rstrip('/')) if match else None


def registry_packages(cuda: str, toolkit_pins: Sequence[Tuple[str, str]] = ()) -> Tuple[str, ...]:
    """The registry packages that bring nvcc and what it needs (:data:`NVCC_PARTS`: nvcc, cicc, the crt and
    cccl headers; cudart comes with torch) for torch's CUDA ``cuda``, each pinned: to the versions the
    ``cuda-toolkit`` that torch's wheel depends on names, where its nvcc is of that CUDA version (nvvm and crt
    share nvcc's version); else :data:`KNOWN_NVCC_PINS`; else the packages of that minor version (CUDA 13
    names)."""
    pins = dict(toolkit_pins)
    nvcc = pins.get('nvidia-cuda-nvcc')
    if nvcc and '.'.join(nvcc.split('.')[:2]) == cuda:
        return tuple(
            f'{name}=={pins.get(name, f"{cuda}.*" if name == "nvidia-cuda-cccl" else nvcc)}' for name in NVCC_PARTS
        )
    if cuda in KNOWN_NVCC_PINS:
        return KNOWN_NVCC_PINS[cuda]
    if cuda_major(cuda) >= 13:
        return tuple(f'{name}=={cuda}.*' for name in NVCC_PARTS)
    raise PlanError(
        f'the registry has no nvcc packages this setup knows for CUDA {cuda}: install a CUDA '
        f'{cuda_major(cuda)} toolkit and set CUDA_HOME to it'
    )


def choose_nvcc(
    torch: TorchFacts, torch_cuda: str, candidates: Sequence[NvccCandidate], nvcc_mode: str = 'auto'
) -> NvccChoice:
    """The first system nvcc (``candidates``, in the order CUDA_HOME, PATH, /usr/local/cuda) whose CUDA major
    version equals torch's, as torch's extension builder requires; else the registry's nvcc of torch's CUDA
    version, installed into the environment. A toolkit of another major version is named in one note line."""
    nvcc_mode = parse_nvcc_mode(nvcc_mode)
    notes: List[str] = []
    if nvcc_mode != 'registry':
        for candidate in candidates:
            if candidate.version is None:
                notes.append(f'{candidate.path} did not say its version (nvcc --version failed): not used')
                continue
            if cuda_major(candidate.version) == cuda_major(torch_cuda):
                return NvccChoice('system', candidate=candidate, notes=tuple(notes))
            notes.append(
                f'found nvcc {candidate.version} at {candidate.path}, but torch {torch.version} needs '
                f'CUDA {cuda_major(torch_cuda)}.x to compile its extensions: not used'
            )
        if nvcc_mode == 'system':
            found = '; '.join(notes) if notes else 'no nvcc found (CUDA_HOME, PATH, /usr/local/cuda)'
            raise PlanError(f'MMDET_RLA_NVCC=system, but no CUDA {cuda_major(torch_cuda)} toolkit: {found}')
    packages = registry_packages(torch_cuda, torch.toolkit_pins)
    return NvccChoice('registry', packages=packages, notes=tuple(notes))


def check_settings(environ: Dict[str, str]) -> None:
    """The settings' syntax, before torch (and its CUDA version) is known."""
    parse_mode(environ.get('MMDET_RLA_MMCV_CUDA'))
    parse_nvcc_mode(environ.get('MMDET_RLA_NVCC'))
    if (environ.get('TORCH_CUDA_ARCH_LIST') or '').strip():
        parse_arch_list(environ['TORCH_CUDA_ARCH_LIST'], None)


# ---------------------------------------------------------------------------------------------- stamp
def stamp_key(root: str, environ: Dict[str, str], smi_gpus: Optional[Sequence[str]]) -> str:
    """The setup's idempotence key: the setup files that exist (setup.py or pyproject.toml, whichever the
    package uses), the variables the ops decision reads, and the GPUs nvidia-smi lists. A change of the
    flavour's inputs (MMDET_RLA_MMCV_CUDA=1 after a CPU setup, a GPU appearing) re-runs the setup."""
    digest = hashlib.sha256()
    for name in STAMP_FILES:
        path = os.path.join(root, name)
        if os.path.isfile(path):
            digest.update(f'\0file {name}\0'.encode())
            with open(path, 'rb') as f:
                digest.update(f.read())
    for name in STAMP_VARIABLES:
        value = environ.get(name)
        digest.update(f'\0env {name}={"<unset>" if value is None else value}'.encode())
    digest.update(f'\0gpus {",".join(smi_gpus) if smi_gpus is not None else "<no nvidia-smi>"}'.encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- probes
TORCH_PROBE = r"""
import importlib.metadata as md, json, platform, re, sys
out = dict(python=sys.version.split()[0], pytag='cp%d%d' % sys.version_info[:2], machine=platform.machine(),
           torch=None, cuda=None, gpus=[], toolkit=None, toolkit_pins=[], mmcv=None, mmcv_ops=None)
try:
    out['toolkit'] = md.version('cuda-toolkit')
    for requirement in md.requires('cuda-toolkit') or []:  # 'nvidia-nvvm==13.0.88.*; ... extra == "all"'
        match = re.match(r'^(nvidia-[A-Za-z0-9_.-]+)==(\d+(?:\.\d+)*?)(?:\.\*)?\s*(?:;|$)', requirement)
        if match and match.group(1) not in dict(out['toolkit_pins']):
            out['toolkit_pins'].append([match.group(1), match.group(2)])
except md.PackageNotFoundError:
    pass
try:
    import torch
except ImportError:
    pass
else:
    out['torch'], out['cuda'] = torch.__version__, torch.version.cuda
    if torch.cuda.is_available():
        out['gpus'] = ['%d.%d' % torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())]
    if '--mmcv' in sys.argv:
        try:
            out['mmcv'] = md.version('mmcv')
            from mmcv.ops import get_compiling_cuda_version
            out['mmcv_ops'] = get_compiling_cuda_version()
        except Exception as error:  # not installed, or installed without (loadable) ops
            out['mmcv_ops'] = 'error: %s' % (str(error).splitlines() or [type(error).__name__])[0]
print('MMDET_RLA_PROBE ' + json.dumps(out))
"""


def probe_python(python: str, with_mmcv: bool = False) -> dict:
    """Runs :data:`TORCH_PROBE` with ``python`` (from a neutral folder: an mmcv source tree in the current
    folder would shadow the installed mmcv)."""
    args = [os.path.abspath(python), '-B', '-c', TORCH_PROBE] + (['--mmcv'] if with_mmcv else [])  # -B: writes nothing
    done = subprocess.run(args, capture_output=True, text=True, cwd='/', check=False)
    for line in done.stdout.splitlines():
        if line.startswith('MMDET_RLA_PROBE '):
            return json.loads(line[len('MMDET_RLA_PROBE ') :])
    raise PlanError(
        f'{python} could not be probed (exit status {done.returncode}): '
        f'{(done.stderr.strip().splitlines() or ["no output"])[-1]}'
    )


def probe_nvidia_smi() -> Optional[List[str]]:
    """The compute capabilities nvidia-smi lists (every GPU of the machine, whatever CUDA_VISIBLE_DEVICES
    says), or None where there is no working nvidia-smi."""
    smi = shutil.which('nvidia-smi')
    if smi is None:
        return None
    try:
        done = subprocess.run(
            [smi, '--query-gpu=compute_cap', '--format=csv,noheader'],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return [line.strip() for line in done.stdout.splitlines() if re.match(r'^\d+\.\d+$', line.strip())]


def probe_nvcc_candidates(environ: Dict[str, str]) -> List[NvccCandidate]:
    """Every distinct nvcc in the order CUDA_HOME (or CUDA_PATH), PATH, /usr/local/cuda, with its version."""
    paths = []
    for variable in ('CUDA_HOME', 'CUDA_PATH'):
        if environ.get(variable):
            paths.append(os.path.join(environ[variable], 'bin', 'nvcc'))
    on_path = shutil.which('nvcc', path=environ.get('PATH'))
    if on_path:
        paths.append(on_path)
    paths.append('/usr/local/cuda/bin/nvcc')
    seen, roots, found = set(), set(), []
    for path in paths:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        version, root = None, os.path.dirname(os.path.dirname(real))
        try:
            done = subprocess.run([path, '--version'], capture_output=True, text=True, timeout=60, check=False)
            version = parse_nvcc_version(done.stdout) if done.returncode == 0 else None
            # The toolkit's root as nvcc itself sees it: /usr/local/bin/nvcc may be a wrapper script.
            done = subprocess.run(
                [path, '--dryrun', '-x', 'cu', '-c', os.devnull, '-o', os.devnull],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            root = parse_nvcc_root(done.stdout + done.stderr) or root
        except (OSError, subprocess.TimeoutExpired):
            pass
        if root in roots:
            continue
        roots.add(root)
        found.append(NvccCandidate(path=path, root=root, version=version))
    return found


def cached_wheel_dirs(cache: str, mmcv_version: str) -> List[str]:
    """The names of the cache's folders that hold an mmcv wheel of ``mmcv_version``."""
    return sorted(
        os.path.basename(os.path.dirname(path))
        for path in glob.glob(os.path.join(glob.escape(cache), '*', f'mmcv-{mmcv_version}-*.whl'))
    )


# ---------------------------------------------------------------------------------------------- the CLI
@dataclasses.dataclass
class Decision:
    """Everything the setup decided about mmcv, for the plan's lines and the setup's variables."""

    python: dict
    torch: TorchFacts
    mode: str
    flavour: Flavour
    smi_gpus: Optional[List[str]]
    gpu_note: str
    wheel_dir: Optional[str] = None
    reuse_dir: Optional[str] = None
    nvcc: Optional[NvccChoice] = None
    notes: List[str] = dataclasses.field(default_factory=list)


def visible_gpus(
    torch: TorchFacts, smi_gpus: Optional[Sequence[str]], environ: Dict[str, str]
) -> Tuple[Tuple[str, ...], str]:
    """The GPUs the decision counts, and a line saying where they were seen. torch's view wins (it honours
    CUDA_VISIBLE_DEVICES); where torch is missing or sees none while nvidia-smi lists GPUs and
    CUDA_VISIBLE_DEVICES hides none (a driver too old for torch's CUDA, say), nvidia-smi's count."""
    smi_text = (
        'nvidia-smi: not found'
        if smi_gpus is None
        else f'nvidia-smi lists {len(smi_gpus)}' + (f' ({" ".join(smi_gpus)})' if smi_gpus else '')
    )
    if torch.gpus:
        return torch.gpus, f'torch sees {len(torch.gpus)} ({" ".join(torch.gpus)}); {smi_text}'
    torch_text = 'torch: not installed yet' if not torch.installed else 'torch sees none'
    if smi_gpus and 'CUDA_VISIBLE_DEVICES' not in environ:
        note = f'{torch_text}; {smi_text}'
        if torch.installed and torch.cuda:
            note += f' (torch cannot use them: is the driver older than CUDA {torch.cuda} needs?)'
        return tuple(smi_gpus), note
    hidden = '; CUDA_VISIBLE_DEVICES is set' if 'CUDA_VISIBLE_DEVICES' in environ else ''
    return (), f'{torch_text}; {smi_text}{hidden}'


def decide(
    python_facts: dict,
    environ: Dict[str, str],
    cache: str,
    mmcv_version: str,
    smi_gpus: Optional[Sequence[str]],
    cached: Iterable[str],
    nvcc_candidates: Optional[Sequence[NvccCandidate]],
) -> Decision:
    """All decisions from the probes' results. ``nvcc_candidates`` None: not probed (no build needed)."""
    torch_facts = TorchFacts(
        version=python_facts.get('torch'),
        cuda=python_facts.get('cuda'),
        gpus=tuple(python_facts.get('gpus') or ()),
        toolkit=python_facts.get('toolkit'),
        toolkit_pins=tuple(tuple(pin) for pin in python_facts.get('toolkit_pins') or ()),
    )
    gpus, gpu_note = visible_gpus(torch_facts, smi_gpus, environ)
    counted = dataclasses.replace(torch_facts, gpus=gpus)
    mode = parse_mode(environ.get('MMDET_RLA_MMCV_CUDA'))
    user_arches = environ.get('TORCH_CUDA_ARCH_LIST')
    flavour = decide_flavour(mode, counted, user_arches)
    decision = Decision(
        python=python_facts,
        torch=counted,
        mode=mode,
        flavour=flavour,
        smi_gpus=list(smi_gpus) if smi_gpus is not None else None,
        gpu_note=gpu_note,
    )
    if not torch_facts.installed:
        return decision
    prefix = wheel_prefix(mmcv_version, torch_facts.version, python_facts['pytag'], python_facts['machine'])
    legacy = wheel_prefix(
        mmcv_version, torch_facts.version.split('+')[0], python_facts['pytag'], python_facts['machine']
    )
    decision.wheel_dir = os.path.join(cache, f'{prefix}-{flavour.tag}')
    reuse = choose_cached(prefix, flavour, mode, gpus, user_arches, cached, legacy)
    if reuse is not None:
        decision.reuse_dir = os.path.join(cache, reuse)
        reused = Flavour('cpu') if reuse == legacy else parse_tag(reuse[len(prefix) + 1 :])
        check_install(reused, mode, gpus, torch_facts.cuda)
    else:
        check_install(flavour, mode, gpus, torch_facts.cuda)
        if flavour.kind == 'cuda' and nvcc_candidates is not None:
            decision.nvcc = choose_nvcc(counted, flavour.cuda, nvcc_candidates, environ.get('MMDET_RLA_NVCC'))
            decision.notes.extend(decision.nvcc.notes)
    return decision


def flavour_of_dir(directory: str) -> str:
    """The ops a cache folder's name says its wheel carries, for the plan's and the setup's lines."""
    tag = os.path.basename(directory)
    for candidate in re.finditer(r'-(cpu|cu\d+\.\d+-arch.+)$', tag):
        found = parse_tag(candidate.group(1))
        if found is not None:
            return found.describe()
    return "cpu ops at least: an earlier setup's wheel, whose folder does not name its ops"


def plan_lines(decision: Decision, venv_python: str, python_exists: bool, torch_pin: str, cache: str) -> List[str]:
    """The lines ``setup_env.sh --plan`` prints: one per decision."""
    py = decision.python
    lines = []
    if python_exists:
        lines.append(f'python: {venv_python} ({py["python"]}, {py["pytag"]}, {py["machine"]})')
    else:
        lines.append(
            f'python: {os.path.dirname(os.path.dirname(venv_python))} does not exist: would be created '
            f'with {py["executable"]} ({py["python"]}, {py["pytag"]}, {py["machine"]})'
        )
    torch = decision.torch
    if torch.installed:
        cuda = f'CUDA {torch.cuda}' if torch.cuda else 'CPU-only build'
        toolkit = f', cuda-toolkit {torch.toolkit}' if torch.toolkit else ''
        lines.append(f'torch: {torch.version}, {cuda}{toolkit}')
    else:
        lines.append(
            f'torch: not installed: would install torch=={torch_pin} (its CUDA version is known only '
            'once it is installed)'
        )
    lines.append(f'gpus: {decision.gpu_note}')
    flavour = decision.flavour
    source = f'; arches from {flavour.arch_source}' if flavour.kind == 'cuda' else ''
    lines.append(f'mmcv ops: {flavour.describe()} ({flavour.why}{source})')
    if decision.reuse_dir and flavour_of_dir(decision.reuse_dir) != flavour.describe():
        lines.append(f'mmcv ops of the cached wheel that serves here: {flavour_of_dir(decision.reuse_dir)}')
    if flavour.kind == 'cpu':
        lines.append('nvcc: not needed (CPU-only ops)')
    elif not torch.installed:
        lines.append("nvcc: chosen once torch is installed (a toolkit of its CUDA major version, else the registry's)")
    elif decision.reuse_dir:
        lines.append('nvcc: not needed (a cached wheel is installed)')
    elif decision.nvcc is not None:
        lines.append(f'nvcc: {decision.nvcc.describe()}')
    for note in decision.notes:
        lines.append(f'nvcc note: {note}')
    if not torch.installed:
        lines.append(
            f'wheel cache: {cache}/mmcv-<mmcv>-torch<torch version>-{py["pytag"]}-{py["machine"]}-'
            f'{flavour.tag if flavour.kind == "cpu" else "cu<CUDA>-arch<arches>"} (named once torch is '
            'installed)'
        )
    elif decision.reuse_dir:
        lines.append(f'wheel cache: {decision.reuse_dir} (cached: would install it)')
    else:
        lines.append(f'wheel cache: {decision.wheel_dir} (not cached: would build mmcv there)')
    if py.get('mmcv'):
        ops = py.get('mmcv_ops')
        installed = (
            'cpu'
            if ops == 'not available'
            else f'cuda {ops}'
            if ops and not ops.startswith('error')
            else f'ops not loadable ({ops})'
        )
        lines.append(f'mmcv installed now: {py["mmcv"]}, {installed}')
    return lines


def shell_lines(decision: Decision) -> List[str]:
    """The decisions as ``NAME=value`` lines for ``eval`` in setup_env.sh."""
    flavour, nvcc = decision.flavour, decision.nvcc
    values = {
        'MMCV_FLAVOUR': flavour.kind,
        'MMCV_FLAVOUR_TEXT': flavour.describe(),
        'MMCV_CUDA': flavour.cuda or '',
        'MMCV_ARCH_LIST': ';'.join(flavour.arches),
        'MMCV_WHEELDIR': decision.wheel_dir or '',
        'MMCV_REUSE_DIR': decision.reuse_dir or '',
        'MMCV_REUSE_TEXT': flavour_of_dir(decision.reuse_dir) if decision.reuse_dir else '',
        'MMCV_GPUS': ' '.join(decision.torch.gpus),
        'MMCV_MODE': decision.mode,
        'NVCC_KIND': nvcc.kind if nvcc else '',
        'NVCC_PATH': nvcc.candidate.path if nvcc and nvcc.candidate else '',
        'NVCC_ROOT': nvcc.candidate.root if nvcc and nvcc.candidate else '',
        'NVCC_PACKAGES': ' '.join(nvcc.packages) if nvcc else '',
        'MMCV_NOTES': '\n'.join(decision.notes),
        'MMCV_SUMMARY': f'mmcv ops: {flavour.describe()} ({flavour.why})',
    }
    return [f'{name}={shlex.quote(value)}' for name, value in values.items()]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog='setup_plan.py', description=__doc__.split('\n\n')[0])
    parser.add_argument('command', choices=('check', 'stamp', 'plan', 'shell'))
    parser.add_argument('--root', default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument('--python', help="the environment's python (plan: may not exist yet)")
    parser.add_argument(
        '--fallback-python', default=sys.executable, help='plan: the python the environment would be created with'
    )
    parser.add_argument('--cache', help='the wheel cache folder')
    parser.add_argument('--mmcv-version', default='2.1.0')
    parser.add_argument('--torch-pin', default='', help='plan: the torch version the setup installs')
    args = parser.parse_args(argv)
    environ = dict(os.environ)
    try:
        if args.command == 'check':
            check_settings(environ)
            return 0
        if args.command == 'stamp':
            print(stamp_key(args.root, environ, probe_nvidia_smi()))
            return 0
        if not args.python or not args.cache:
            parser.error('plan and shell need --python and --cache')
        check_settings(environ)  # before the probes, which take seconds
        exists = os.path.isfile(args.python) and os.access(args.python, os.X_OK)
        if args.command == 'shell' and not exists:
            raise PlanError(f'{args.python} does not exist')
        python = args.python if exists else args.fallback_python
        facts = probe_python(python, with_mmcv=args.command == 'plan' and exists)
        facts['executable'] = python
        if not exists:  # a system python's torch says nothing about the environment's
            facts.update(torch=None, cuda=None, gpus=[], toolkit=None, toolkit_pins=[], mmcv=None)
        smi = probe_nvidia_smi()
        cached = cached_wheel_dirs(args.cache, args.mmcv_version)
        decision = decide(facts, environ, args.cache, args.mmcv_version, smi, cached, probe_nvcc_candidates(environ))
        lines = (
            plan_lines(decision, args.python, exists, args.torch_pin, args.cache)
            if args.command == 'plan'
            else shell_lines(decision)
        )
        print('\n'.join(lines))
        return 0
    except PlanError as error:
        print(f'{PROG}: error: {error}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
