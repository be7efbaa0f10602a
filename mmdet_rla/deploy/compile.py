"""``--compile`` for ``tools/train.py`` and ``tools/test.py``: torch.compile with a fallback.

- Training uses mmengine's own switch: ``cfg.compile`` makes the Runner wrap the model's
  ``train_step`` (data preprocessing, forward, losses, backward, optimiser step) in ``torch.compile``
  (graph breaks allowed: mmdet's losses and assigners are Python-heavy). :class:`CompileFallbackHook`
  watches the first call: if TorchDynamo or the backend cannot compile the detector, it logs why, puts
  the eager ``train_step`` back and compiles the backbone alone.
- Testing compiles the backbone and the neck in place (``nn.Module.compile``: parameter names and
  checkpoints are unchanged) with dynamic shapes, since test images come in many sizes; a part that
  fails to compile logs why and runs eagerly (the backbone on its own stays compiled).
"""

import logging
from typing import Any, Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from torch import nn

# TorchDynamo and backend failures (unsupported code, backend compiler errors) derive from this.
COMPILE_ERRORS = (torch._dynamo.exc.TorchDynamoException,)
INFERENCE_PARTS = ('backbone', 'neck')


def compile_options(backend: str = 'inductor', dynamic: bool = True) -> dict:
    """``torch.compile`` keyword arguments the tools use (dynamic shapes: images vary in size)."""
    return dict(backend=backend, dynamic=dynamic)


def _unwrap(model: nn.Module) -> nn.Module:
    """The detector inside a (Distributed)DataParallel wrapper, or ``model`` itself."""
    return getattr(model, 'module', model)


def compile_module(module: nn.Module, name: str, **options) -> None:
    """Compile ``module`` in place (``module.compile``); if that fails at its first call, log and run eagerly.

    ``nn.Module.compile`` keeps the module's parameters and state_dict keys, so checkpoints load
    and save as before. Compilation happens at the first call; a failure there is logged once, with
    its reason, and the module runs eagerly from then on.
    """
    module.compile(**options)
    compiled = module._compiled_call_impl

    def call_or_fall_back(*args, **kwargs):
        try:
            return compiled(*args, **kwargs)
        except COMPILE_ERRORS as error:
            print_log(
                f'torch.compile cannot compile the {name} ({type(error).__name__}: '
                f'{_first_line(error)}); it runs eagerly',
                logger='current',
                level=logging.WARNING,
            )
            module._compiled_call_impl = None
            return module._call_impl(*args, **kwargs)

    module._compiled_call_impl = call_or_fall_back


def compile_for_inference(model: nn.Module, parts: Sequence[str] = INFERENCE_PARTS, **options) -> list:
    """Compile the detector's ``parts`` (default backbone and neck) in place; return the names compiled.

    ``options`` go to ``torch.compile`` (default :func:`compile_options`). Parts the model lacks are
    skipped; with none of them present the whole model's forward is compiled instead.
    """
    detector = _unwrap(model)
    options = {**compile_options(), **options}
    compiled = []
    for name in parts:
        part = getattr(detector, name, None)
        if isinstance(part, nn.Module):
            compile_module(part, name, **options)
            compiled.append(name)
    if not compiled:
        compile_module(detector, type(detector).__name__, **options)
        compiled.append(type(detector).__name__)
    print_log(
        f'torch.compile ({options["backend"]}, dynamic={options["dynamic"]}): {", ".join(compiled)} '
        'compile at the first batch',
        logger='current',
    )
    return compiled


@HOOKS.register_module()
class CompileFallbackHook(Hook):
    """Falls back from mmengine's compiled ``train_step`` to a compiled backbone when compiling fails.

    mmengine's Runner compiles ``train_step`` just before ``before_train``; this hook wraps the
    compiled function so that a TorchDynamo/backend failure at its first call is logged, the eager
    ``train_step`` is restored, the backbone alone is compiled (``compile_module``) and the step
    is run again eagerly, from zero gradients. Frames are compiled before they run, so a failed attempt
    has not stepped the optimiser (its step comes last); it may have run the forward pass (BatchNorm
    statistics then see this batch twice) and the backward pass, whose gradients are cleared.

    Args:
        options: ``torch.compile`` keyword arguments for the backbone (default :func:`compile_options`).
    """

    priority = 'VERY_HIGH'

    def __init__(self, options: Optional[dict] = None) -> None:
        self.options = {**compile_options(), **(options or {})}
        self.fell_back = False

    def before_train(self, runner: Any) -> None:
        model = runner.model
        compiled = model.__dict__.get('train_step')  # set by Runner._maybe_compile
        if compiled is None:
            return
        eager = type(model).train_step.__get__(model)
        hook = self

        def train_step_or_fall_back(*args, **kwargs):
            try:
                return compiled(*args, **kwargs)
            except COMPILE_ERRORS as error:
                runner.logger.warning(
                    f'torch.compile cannot compile the train step of {type(_unwrap(model)).__name__} '
                    f'({type(error).__name__}: {_first_line(error)}); falling back to compiling the backbone'
                )
                hook.fell_back = True
                model.train_step = eager
                compile_module(_unwrap(model).backbone, 'backbone', **hook.options)
                # Graph breaks split the step into frames compiled as they are reached: a later frame
                # may fail after the backward pass ran. Start the eager step from zero gradients.
                model.zero_grad(set_to_none=True)
                return eager(*args, **kwargs)

        model.train_step = train_step_or_fall_back


def enable_train_compile(cfg: Any, backend: str = 'inductor') -> dict:
    """Switch on mmengine's ``compile`` in ``cfg`` and add :class:`CompileFallbackHook`; return the options.

    Options the config's own ``compile`` dict sets win over the defaults (:func:`compile_options`).
    The hook is registered in mmengine's ``HOOKS``, which every config scope's registry reaches.
    """
    existing = cfg.get('compile', None)
    options = {**compile_options(backend), **(existing if isinstance(existing, dict) else {})}
    cfg.compile = options
    cfg.custom_hooks = list(cfg.get('custom_hooks', None) or []) + [dict(type='CompileFallbackHook', options=options)]
    return options


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ''


__all__ = [
    'COMPILE_ERRORS',
    'CompileFallbackHook',
    'compile_for_inference',
    'compile_module',
    'compile_options',
    'enable_train_compile',
]
