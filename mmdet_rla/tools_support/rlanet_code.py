"""Import the RLA-Net authors' model code (github joyfang1106/RLANet) from a directory the user names.

Their code is not part of this package and is never copied into it: the benchmark reads their
``models/*.py`` at run time from a checkout or a git mirror of their repository (a bare mirror is read
at ``HEAD`` with ``git show``) and imports them as a package of its own, in memory. The only change is
where their code hard-codes the device of the RLA state (``device=torch.device('cuda' if
torch.cuda.is_available() else 'cpu')``, or a fixed CUDA device in some files): the state is created on
the input's device instead, so that their model runs on the CPU and on any GPU index.

>>> from mmdet_rla.tools_support.rlanet_code import authors_model
>>> model = authors_model('/path/to/RLANet', 'rla_resnet50')
"""

import contextlib
import importlib.abc
import importlib.util
import itertools
import os
import re
import subprocess
import sys
import types
from typing import Tuple

REQUIRED = 'models/resnet_rla.py'
# Their hard-coded devices of the state tensor, and what replaces them (``x`` is the input there).
_DEVICE_PATTERNS = (
    re.compile(
        r"device\s*=\s*torch\.device\(\s*'cuda'\s+if\s+torch\.cuda\.is_available\(\)\s+"
        r"else\s+'cpu'\s*\)"
    ),
    re.compile(r"device\s*=\s*'cuda'"),
)
_DEVICE_FROM_INPUT = 'device=x.device'
_counter = itertools.count()


class SourceTree:
    """The files of a RLANet checkout (a directory holding ``models/resnet_rla.py``) or git mirror."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f'--reference-code: no such directory: {root}')
        self.git = not os.path.isfile(os.path.join(self.root, REQUIRED))
        if self.git and not self._git_has(REQUIRED):
            raise ValueError(
                f'--reference-code: {root} is neither a checkout nor a git mirror of github '
                f'joyfang1106/RLANet (it has no {REQUIRED})'
            )

    def _git(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(['git', '--git-dir', self._git_dir(), *args], capture_output=True, text=True)

    def _git_dir(self) -> str:
        dot_git = os.path.join(self.root, '.git')
        return dot_git if os.path.exists(dot_git) else self.root

    def _git_has(self, path: str) -> bool:
        try:
            return self._git('cat-file', '-e', f'HEAD:{path}').returncode == 0
        except OSError:  # no git on this machine
            return False

    def has(self, path: str) -> bool:
        return self._git_has(path) if self.git else os.path.isfile(os.path.join(self.root, path))

    def read(self, path: str) -> str:
        if not self.git:
            with open(os.path.join(self.root, path), encoding='utf-8') as f:
                return f.read()
        shown = self._git('show', f'HEAD:{path}')
        if shown.returncode != 0:
            raise FileNotFoundError(f'--reference-code: {path} not found at HEAD of {self.root}')
        return shown.stdout

    def origin(self, path: str) -> str:
        return f'{self.root}:HEAD:{path}' if self.git else os.path.join(self.root, path)


def patch_device(source: str) -> Tuple[str, int]:
    """``source`` with its hard-coded state devices replaced by the input's; and how many were replaced."""
    total = 0
    for pattern in _DEVICE_PATTERNS:
        source, count = pattern.subn(_DEVICE_FROM_INPUT, source)
        total += count
    return source, total


class _ModelsLoader(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``<package>.<name>`` from ``models/<name>.py`` of a :class:`SourceTree`, patched."""

    def __init__(self, tree: SourceTree, package: str) -> None:
        self.tree = tree
        self.package = package
        self.patched = {}

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.package:
            return importlib.util.spec_from_loader(fullname, self, origin=self.tree.origin('models'), is_package=True)
        prefix = self.package + '.'
        if fullname.startswith(prefix) and '.' not in fullname[len(prefix) :]:
            relative = f'models/{fullname[len(prefix) :]}.py'
            if self.tree.has(relative):
                return importlib.util.spec_from_loader(fullname, self, origin=self.tree.origin(relative))
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        if module.__name__ == self.package:  # an empty package: their __init__ imports every model file
            return
        relative = f'models/{module.__name__.rsplit(".", 1)[1]}.py'
        source, count = patch_device(self.tree.read(relative))
        self.patched[relative] = count
        module.__file__ = self.tree.origin(relative)
        exec(compile(source, module.__file__, 'exec'), module.__dict__)  # noqa: S102  (the user's chosen code)


def load_models_module(root: str, module: str = 'resnet_rla') -> Tuple[types.ModuleType, dict]:
    """Their ``models/<module>.py`` (and what it imports from ``models/``), imported from ``root``;
    and ``{file: number of device expressions patched}``."""
    tree = SourceTree(root)
    package = f'_rlanet_reference_code_{next(_counter)}'
    loader = _ModelsLoader(tree, package)
    sys.meta_path.insert(0, loader)
    try:
        imported = importlib.import_module(f'{package}.{module}')
    finally:
        sys.meta_path.remove(loader)
    return imported, loader.patched


def authors_model(root: str, factory: str = 'rla_resnet50', **kwargs):
    """Their ``factory(**kwargs)`` (e.g. ``rla_resnet50``: the ImageNet classifier with its fc layer),
    randomly initialised as their constructor does; their ``print`` goes to stderr."""
    module, _ = load_models_module(root)
    build = getattr(module, factory, None)
    if build is None:
        raise ValueError(f'--reference-code: models/resnet_rla.py of {root} has no {factory}()')
    with contextlib.redirect_stdout(sys.stderr):
        return build(**kwargs)


__all__ = ['SourceTree', 'patch_device', 'load_models_module', 'authors_model']
