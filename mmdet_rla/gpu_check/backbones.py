"""Backbone checks: float32 on the device against float64, autocast against float32, compiled against eager.

Every family is built as the COCO configs and the papers use it (``FAMILIES``); ``--tiny`` narrows the
same configurations (``TINY``) so that the CPU run costs seconds. Weights are random (seeded), and every
norm layer gets random affine parameters and running statistics: at their defaults (``gamma = 1`` or
mmdet's zero-initialised last norm of each block, mean 0, variance 1) eval mode would be close to an
identity, or switch the residual branches off, and hide errors.

Each comparison runs up to three passes (:func:`run_pass`):

- ``inference``: eval mode under ``torch.no_grad`` -- the layers' in-place inference paths;
- ``eval``: eval mode with autograd -- outputs, the input gradient and every parameter gradient of
  a scalar that weights every output element differently (fixed random weights);
- ``train``: the same in training mode (BatchNorm on batch statistics, RoR's drop-layer, whose draws
  are made identical by seeding the generator of the device before each pass).

The float32 check compares the first two with float64 on the CPU (so a device-specific kernel is
compared with the CPU's float64 path, the one the test suite checks against the literal equations)
and ``train`` with float64 on the device itself, since RoR's drop-layer draws differ between the CPU's
and a GPU's generators. The autocast checks compare with float32 on the device; the compile check
compares compiled with eager code in ``eval`` (a compiled drop-layer draws from Inductor's own
generator, so training mode could not be compared). What each quantity may differ by, and why, is in
:mod:`mmdet_rla.gpu_check.numerics`.
"""

import contextlib
import copy
import math
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import nn

from .numerics import AMP_DTYPES, BASELINE_FACTOR, GRADIENT_TOLERANCE, OUTPUT_TOLERANCE, worst_relative_error
from .report import FAIL, PASS, Row, _fmt

# The families, as the detection configs build them (the fast paths on: RLA's folded Conv1_s in the
# paper's design and the merged Conv1_s of the authors' 'output' design, RegNet's composed light
# convolution, RoR's in-place combination and its drop-layer).
# ``norm_eval=False`` everywhere: mmdet's ResNet keeps its norms in eval mode by default, and the training
# pass must exercise BatchNorm on batch statistics.
FAMILIES: Dict[str, dict] = {
    'rla-r50': dict(type='RLAResNet', depth=50, norm_eval=False),  # the paper's design, Conv1_s folded
    'rla-eca-r50': dict(
        type='RLAResNet',
        depth=50,
        rla_input='output',
        channel_attention='eca',
        eca_kernel_sizes=(5, 5, 5, 7),
        norm_eval=False,
    ),  # as configs/rla/*eca-r50*: the authors'
    'rla-x50': dict(type='RLAResNeXt', depth=50, groups=32, base_width=4, norm_eval=False),
    'rla-mobilenetv2': dict(
        type='RLAMobileNetV2',
        rla_channels=32,
        recurrent_conv='depthwise',
        recurrent_conv_sharing='network',
        out_indices=(4, 7),
    ),  # as the SSDLite config
    'rnn-regnet50-rnn': dict(
        type='RNNRegNet', depth=50, regulator='rnn', regulator_conv='light', state_transition='conv3x3', norm_eval=False
    ),
    'rnn-regnet50-gru': dict(
        type='RNNRegNet', depth=50, regulator='gru', regulator_conv='light', state_transition='conv3x3', norm_eval=False
    ),
    'rnn-regnet50-lstm': dict(
        type='RNNRegNet',
        depth=50,
        regulator='lstm',
        regulator_conv='light',
        state_transition='conv3x3',
        norm_eval=False,
    ),
    'ror-r50': dict(
        type='RoRResNet',
        depth=50,
        represent_ratio=0.05,
        refine_drop_rate=0.2,
        drop_scaling='inverted',
        seed=0,
        norm_eval=False,
    ),
    'ror-x50': dict(type='RoRResNeXt', depth=50, groups=32, base_width=4, refine_drop_rate=0.2, norm_eval=False),
}
# --tiny: the same blocks and stage transitions, narrow, two stages of bottlenecks.
_NARROW = dict(base_channels=8, num_stages=2, out_indices=(0, 1))
TINY: Dict[str, dict] = {
    'rla-r50': dict(_NARROW, rla_channels=8),
    'rla-eca-r50': dict(_NARROW, rla_channels=8, eca_kernel_sizes=(3, 5)),
    'rla-x50': dict(_NARROW, groups=4, base_width=2, base_channels=16, rla_channels=8),
    'rla-mobilenetv2': dict(widen_factor=0.25, rla_channels=4, out_indices=(2, 4)),
    'rnn-regnet50-rnn': dict(_NARROW),
    'rnn-regnet50-gru': dict(_NARROW),
    'rnn-regnet50-lstm': dict(_NARROW),
    'ror-r50': dict(_NARROW),
    'ror-x50': dict(_NARROW, groups=4, base_width=2, base_channels=16),
}


# --tiny's compile check: TorchDynamo's tracing costs seconds per block on a busy CPU, so the ResNet-type
# families keep only their first stage there (tests/test_compile_export.py compiles every variant, stage
# transitions included, with aot_eager).
_FIRST_STAGE = dict(num_stages=1, strides=(1,), dilations=(1,), out_indices=(0,))
TINY_COMPILE: Dict[str, dict] = {name: dict(_FIRST_STAGE) for name in TINY if name != 'rla-mobilenetv2'}
TINY_COMPILE['rla-eca-r50']['eca_kernel_sizes'] = (3,)
TINY_COMPILE['rla-mobilenetv2'] = {}


def family_config(name: str, tiny: bool, for_compile: bool = False) -> dict:
    cfg = dict(FAMILIES[name])
    if tiny:
        cfg.update(TINY[name])
        if for_compile:
            cfg.update(TINY_COMPILE[name])
    return cfg


def randomise_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random affine parameters and running statistics in every norm layer (see the module docstring)."""
    generator = torch.Generator().manual_seed(seed)

    def fill(tensor: Optional[torch.Tensor], low: float, high: float) -> None:
        if tensor is not None:
            tensor.copy_(torch.empty(tensor.shape, dtype=tensor.dtype).uniform_(low, high, generator=generator))

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)):
                fill(getattr(module, 'weight', None), 0.4, 1.0)
                fill(getattr(module, 'bias', None), -0.2, 0.2)
                fill(getattr(module, 'running_mean', None), -0.2, 0.2)
                fill(getattr(module, 'running_var', None), 0.5, 2.0)
    return model


def build_backbone(cfg: dict, seed: int = 0) -> nn.Module:
    """The backbone of ``cfg`` with seeded random weights and randomised norms, float32 on the CPU."""
    import mmdet_rla  # noqa: F401  (registers the backbones)
    from mmdet_rla.deploy.detector import init_weights_quietly
    from mmdet_rla.registry import build_model

    torch.manual_seed(seed)
    model = build_model(copy.deepcopy(cfg))
    init_weights_quietly(model)
    return randomise_norms(model, seed)


# ------------------------------------------------------------------------------------ the passes
class PassResult(NamedTuple):
    outputs: List[torch.Tensor]
    input_grad: Optional[torch.Tensor]
    param_grad: Optional[torch.Tensor]  # every parameter gradient, flattened into one vector

    def tensors(self) -> List[torch.Tensor]:
        return self.outputs + [t for t in (self.input_grad, self.param_grad) if t is not None]


PASSES = ('inference', 'eval', 'train')


def output_weights(shapes: Sequence[torch.Size], seed: int = 1) -> List[torch.Tensor]:
    """Fixed random weights of the output elements (float64, CPU) that make the loss a scalar."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=generator, dtype=torch.float64) for shape in shapes]


def run_pass(
    model: nn.Module,
    x: torch.Tensor,
    mode: str,
    weights: Optional[List[torch.Tensor]] = None,
    autocast: Optional[torch.dtype] = None,
    forward: Optional[Callable] = None,
    seed: int = 2,
) -> PassResult:
    """One pass of ``mode`` (:data:`PASSES`) of ``model`` (or of ``forward``, e.g. its compiled
    version) on ``x``; ``weights`` (from :func:`output_weights`) are needed for the gradient passes."""
    forward = model if forward is None else forward
    model.train(mode == 'train')
    grad = mode != 'inference'
    x = x.detach().clone().requires_grad_(grad)
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = None
    torch.manual_seed(seed)  # RoR's drop-layer: the same draws in every training pass on a device
    cast = torch.autocast(x.device.type, dtype=autocast) if autocast is not None else contextlib.nullcontext()
    with torch.set_grad_enabled(grad), cast:
        outputs = forward(x)
    outputs = list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]
    if not grad:
        return PassResult([o.detach() for o in outputs], None, None)
    if weights is None:
        raise ValueError('the gradient passes need output weights')
    loss = sum(
        (o.float() * w.to(o.device, torch.float32 if o.dtype != torch.float64 else o.dtype)).sum()
        for o, w in zip(outputs, weights)
    )
    loss.backward()
    param_grad = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).detach().flatten() for p in params])
    return PassResult([o.detach() for o in outputs], x.grad.detach(), param_grad)


def _errors(actual: PassResult, expected: PassResult) -> Dict[str, float]:
    errors = {'outputs': worst_relative_error(actual.outputs, expected.outputs)}
    if expected.input_grad is not None:
        errors['input gradient'] = worst_relative_error([actual.input_grad], [expected.input_grad])
        errors['parameter gradients'] = worst_relative_error([actual.param_grad], [expected.param_grad])
    return errors


class Judged(NamedTuple):
    """One compared quantity of one pass; ``tolerance=None``: it only has to be finite."""

    pass_name: str
    quantity: str
    error: float
    tolerance: Optional[float]


def _tolerance(kind: str, quantity: str) -> float:
    return (OUTPUT_TOLERANCE if quantity == 'outputs' else GRADIENT_TOLERANCE)[kind]


def _row(name: str, judged: Sequence[Judged], note: str, details: dict) -> Row:
    """The row of a comparison: it fails on any non-finite value or any error above its tolerance,
    and shows the quantity closest to (or furthest beyond) its tolerance."""
    nonfinite = [f'{j.pass_name} {j.quantity}' for j in judged if not math.isfinite(j.error)]
    bounded = [j for j in judged if j.tolerance is not None and math.isfinite(j.error)]
    worst = max(bounded, key=lambda j: j.error / j.tolerance) if bounded else None
    over = [j for j in bounded if j.error > j.tolerance]
    status = FAIL if nonfinite or over else PASS
    reason = ''
    if nonfinite:
        reason = f'non-finite values in: {", ".join(nonfinite)}'
    elif over:
        reason = '; '.join(
            f'{j.pass_name} {j.quantity}: relative error {_fmt(j.error)} > {_fmt(j.tolerance)}' for j in over
        )
    comparisons = [dict(j._asdict()) for j in judged]
    if worst is None:
        return Row(
            name,
            status,
            None,
            'not finite' if nonfinite else '—',
            None,
            '—',
            reason=reason,
            note=note,
            details=dict(details, comparisons=comparisons),
        )
    return Row(
        name,
        status,
        worst.error,
        _fmt(worst.error),
        worst.tolerance,
        f'<= {_fmt(worst.tolerance)}',
        reason=reason,
        note=f'{worst.pass_name} {worst.quantity}; {note}',
        details=dict(details, comparisons=comparisons),
    )


class Inputs(NamedTuple):
    x: torch.Tensor
    weights: List[torch.Tensor]


def make_inputs(model: nn.Module, batch: int, hw: Tuple[int, int], seed: int = 3) -> Inputs:
    """A seeded input batch (float32, CPU) and the output weights that fit the model's outputs."""
    x = torch.randn(batch, 3, *hw, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        shapes = [o.shape for o in run_pass(model, x, 'inference').outputs]
    return Inputs(x, output_weights(shapes))


# ------------------------------------------------------------------------------------ the checks
def check_float32(context, family: str) -> List[Row]:
    """float32 on the device against float64 (see the module docstring and :mod:`.numerics`).

    Outputs of the inference and eval passes are held to the absolute float32 tolerance; gradients, and
    everything of the training pass, to at least that and within ``BASELINE_FACTOR`` of the CPU's own float32
    error on the same problem (on the CPU the device is its own baseline there)."""
    cfg = family_config(family, context.tiny)
    model = build_backbone(cfg)
    inputs = make_inputs(model, context.backbone_batch, context.backbone_hw)
    on_cpu = context.device.type == 'cpu'
    cpu64 = copy.deepcopy(model).double()
    cpu32 = None if on_cpu else copy.deepcopy(model)
    device64 = cpu64 if on_cpu else copy.deepcopy(model).double().to(context.device)
    model = model.to(context.device)
    x, x64 = inputs.x.to(context.device), inputs.x.double()
    judged, baselines = [], {}
    for mode in PASSES:
        if mode == 'train':  # RoR's drop-layer: the device's own generator in both runs
            expected = run_pass(device64, x64.to(context.device), mode, inputs.weights)
        else:
            expected = run_pass(cpu64, x64, mode, inputs.weights)
        errors = _errors(run_pass(model, x, mode, inputs.weights), expected)
        if mode != 'inference':
            if on_cpu:
                baselines[mode] = errors
            else:
                cpu_expected = run_pass(cpu64, x64, mode, inputs.weights) if mode == 'train' else expected
                baselines[mode] = _errors(run_pass(cpu32, inputs.x, mode, inputs.weights), cpu_expected)
        for quantity, error in errors.items():
            allowed = _tolerance('float32', quantity)
            baseline = baselines.get(mode, {}).get(quantity, math.nan)
            if (mode == 'train' or quantity != 'outputs') and math.isfinite(baseline):
                allowed = max(allowed, BASELINE_FACTOR * baseline)
            judged.append(Judged(mode, quantity, error, allowed))
    where = (
        'float64 on the CPU (gradients and train: the CPU is its own baseline)'
        if on_cpu
        else f'float64 on the CPU (train: on {context.device}; gradients and train within {BASELINE_FACTOR:g}x the '
        'CPU float32 error)'
    )
    return [
        _row(
            f'backbone/{family}/float32',
            judged,
            f'float32 on {context.device} vs {where}',
            dict(config=cfg, cpu_float32_baseline=baselines),
        )
    ]


def check_autocast(context, family: str, amp: str) -> List[Row]:
    """Autocast (``amp`` in :data:`AMP_DTYPES`) forward and backward: finite, and close to float32."""
    cfg = family_config(family, context.tiny)
    model = build_backbone(cfg).to(context.device)
    inputs = make_inputs(model, context.backbone_batch, context.backbone_hw)
    x = inputs.x.to(context.device)
    judged = []
    for mode in PASSES:
        errors = _errors(
            run_pass(model, x, mode, inputs.weights, autocast=AMP_DTYPES[amp]), run_pass(model, x, mode, inputs.weights)
        )
        judged += [Judged(mode, q, e, None if mode == 'train' else _tolerance(amp, q)) for q, e in errors.items()]
    return [
        _row(
            f'backbone/{family}/{amp}',
            judged,
            f'torch.autocast({context.device.type!r}, {AMP_DTYPES[amp]}) vs float32 (train: finite)',
            dict(config=cfg),
        )
    ]


def check_compile(context, family: str) -> List[Row]:
    """``torch.compile`` (``context.compile_backend``) against eager, eval mode with gradients."""
    from torch._dynamo.utils import counters

    cfg = family_config(family, context.tiny, for_compile=True)
    model = build_backbone(cfg).to(context.device)
    inputs = make_inputs(model, context.backbone_batch, context.backbone_hw)
    x = inputs.x.to(context.device)
    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(model, backend=context.compile_backend)
    try:
        actual = run_pass(model, x, 'eval', inputs.weights, forward=compiled)
        graphs = int(counters['stats']['unique_graphs'])
        breaks = sum(counters['graph_break'].values())
    finally:
        torch._dynamo.reset()
    expected = run_pass(model, x, 'eval', inputs.weights)
    judged = [Judged('eval', q, e, _tolerance('compile', q)) for q, e in _errors(actual, expected).items()]
    return [
        _row(
            f'compile/{family}',
            judged,
            f'torch.compile(backend={context.compile_backend!r}) vs eager; {graphs} graph(s), {breaks} graph break(s)',
            dict(config=cfg, graphs=graphs, graph_breaks=breaks),
        )
    ]
