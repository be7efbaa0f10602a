"""What the command-line tools (:mod:`mmdet_rla.cli`, ``tools/``) share about bad input: argument types
and actions whose errors name the argument, and one ``prog: error: ...`` line instead of a traceback when
the input is at fault.

The library raises ``ValueError`` (with the argument's name and what it accepts) for bad arguments
and ``FileNotFoundError`` & co. for missing or unwritable paths; :func:`exit_on_user_error` turns
those, and registry misses (an unknown ``type=`` in a config), into that one line. Anything else is
a bug and keeps its traceback; set ``MMDET_RLA_TRACEBACK=1`` to see the traceback of the former too.
"""

import argparse
import contextlib
import os
import sys
import urllib.error
from typing import Callable, Iterator, List, Optional

import torch
from mmengine.config import DictAction

# What bad input raises: the library's argument checks (ValueError, and its subclasses
# CheckpointFileError, json's JSONDecodeError, ...), paths that do not exist or cannot be written,
# pickles that end early (an empty or truncated file), and downloads without network access.
USER_ERRORS = (
    ValueError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    FileExistsError,
    PermissionError,
    EOFError,
    urllib.error.URLError,
)


def user_error_message(error: BaseException) -> Optional[str]:
    """The one-line message for an error caused by the input, or ``None`` for any other error."""
    if isinstance(error, KeyError):
        # mmengine's registries: "X is not in the mmdet::model registry. Please check ...".
        text = error.args[0] if error.args and isinstance(error.args[0], str) else ''
        return text if ' registry' in text else None
    if isinstance(error, urllib.error.URLError):  # e.g. a CIFAR config's dataset download without network access
        return (
            f'a download failed ({error.reason}): without network access, put what it fetches in place yourself '
            "(a dataset under the config's data_root, weights under checkpoints/)"
        )
    if isinstance(error, EOFError):
        return 'a file ended before its end: it is empty or truncated' + (f' ({error})' if str(error) else '')
    if isinstance(error, USER_ERRORS):
        return str(error) or type(error).__name__
    return None


@contextlib.contextmanager
def exit_on_user_error(prog: Optional[str] = None) -> Iterator[None]:
    """Run a tool's ``main``; an error caused by its input (:func:`user_error_message`) ends the
    process with ``prog: error: message`` on stderr and exit status 1, as ``argparse`` reports bad
    arguments, rather than with a traceback. ``MMDET_RLA_TRACEBACK=1`` re-raises it."""
    try:
        yield
    except (KeyError,) + USER_ERRORS as error:
        message = user_error_message(error)
        if message is None or os.environ.get('MMDET_RLA_TRACEBACK', '') not in ('', '0'):
            raise
        prog = prog or os.path.basename(sys.argv[0])
        raise SystemExit(f'{prog}: error: {message}') from None


def run_tool(
    main: Callable[[Optional[List[str]]], object], argv: Optional[List[str]] = None, prog: Optional[str] = None
) -> None:
    """Run a command-line tool's ``main(argv)`` as a program: bad input ends in one line
    (:func:`exit_on_user_error`), and an int that ``main`` returns is the exit status (anything else: 0)."""
    with exit_on_user_error(prog):
        result = main(argv)
    if isinstance(result, int) and not isinstance(result, bool):
        sys.exit(result)


class CfgOptions(DictAction):
    """mmengine's ``DictAction`` (``--cfg-options key=value ...``) that reports a malformed pair
    through the parser, naming the option, instead of raising from inside ``argparse``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: List[str],
        option_string: Optional[str] = None,
    ) -> None:
        malformed = [value for value in values if '=' not in value]
        if malformed:
            parser.error(f'{option_string}: expected key=value pairs such as model.backbone.depth=50, got {malformed}')
        try:
            super().__call__(parser, namespace, values, option_string)
        except ValueError as error:
            parser.error(f'{option_string}: {error}')


def positive_int(text: str) -> int:
    """``argparse`` type of an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be a positive integer, got {text}')
    return value


def non_negative_int(text: str) -> int:
    """``argparse`` type of an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'must be an integer >= 0, got {text}')
    return value


def unit_interval(text: str) -> float:
    """``argparse`` type of a number between 0 and 1 (an opacity, a score threshold)."""
    try:
        value = float(text)
    except ValueError:
        value = float('nan')
    if not 0.0 <= value <= 1.0:  # also false for nan
        raise argparse.ArgumentTypeError(f'must be a number between 0 and 1, got {text}')
    return value


def compile_backend(text: str) -> str:
    """``argparse`` type of a ``torch.compile`` backend name: one that ``torch._dynamo`` knows."""
    import torch._dynamo

    if text not in torch._dynamo.list_backends(exclude_tags=()):
        raise argparse.ArgumentTypeError(
            f'must be a torch.compile backend such as {torch._dynamo.list_backends()}, got {text!r}'
        )
    return text


def check_device(name: str, value: str) -> torch.device:
    """Return ``torch.device(value)``; raise ``ValueError`` unless it is the CPU or a CUDA device this
    machine has (``'cuda:1'`` needs two visible GPUs)."""
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ('cpu', 'cuda'):
        raise ValueError(f"{name} must be 'cpu', 'cuda' or 'cuda:<index>', got {value!r}")
    if device.type == 'cuda':
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(
                f"{name}={value!r}: no CUDA device is available here (torch.cuda.is_available() is False); use 'cpu'"
            )
        if device.index is not None and device.index >= count:
            raise ValueError(f'{name}={value!r}: this machine has {count} CUDA device(s), indices 0-{count - 1}')
    return device


__all__ = [
    'USER_ERRORS',
    'user_error_message',
    'exit_on_user_error',
    'run_tool',
    'CfgOptions',
    'positive_int',
    'non_negative_int',
    'unit_interval',
    'compile_backend',
    'check_device',
]
