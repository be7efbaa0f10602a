"""torch.compile, torch.export and ONNX for every backbone variant in ``mmdet_rla.testing.BACKBONE_VARIANTS``.

Compiled code is checked against eager PyTorch at three input sizes (odd ones included) with
``fullgraph=True`` (a graph break is an error) and ``dynamic=True``, under dynamo's
``error_on_recompile`` (a shape guard that the second or third size fails is an error).

Backends: the per-variant compile test uses ``aot_eager``, i.e. TorchDynamo's capture and AOTAutograd's
joint forward/backward graph exactly as ``torch.compile`` builds them, run without code generation: graph
breaks, recompilations and wrong gradients all show there, at seconds per variant. It compiles training
mode (grad enabled, BatchNorm on batch statistics, RoR's drop-layer). Eval mode is TorchDynamo's strict
capture in the export test (dynamic height and width), and, with code generated, the Inductor test:
TorchInductor's own shape guards (e.g. on ceil-mode pooling) appear only when it generates code, which
costs minutes on two cores, so that test compiles the variants of ``INDUCTOR_VARIANTS`` together, as one
graph, for inference (what ``tools/test.py --compile`` does).

``specialize_float=True`` spares the restart that ``dynamic=True`` otherwise makes once per compile for
the Python floats of BatchNorm (``eps``, ``momentum``); the graphs are the same.
"""

import os.path as osp

import pytest
import torch
from torch._dynamo.utils import counters

from mmdet_rla.deploy.onnx import export_onnx, inference_session, max_abs_difference, run_session
from mmdet_rla.testing import BACKBONE_VARIANTS, INDUCTOR_VARIANTS, VARIANT_INPUT_SIZES, build_backbone_variant

VARIANTS = sorted(BACKBONE_VARIANTS)
STRICT_DYNAMO = dict(error_on_recompile=True, specialize_float=True)
FORWARD_ATOL = 1e-4


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Every test starts with no compiled code and zeroed dynamo counters."""
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


def weighted_sum(outputs) -> torch.Tensor:
    """A scalar that weights every output element differently (so every gradient entry is tested)."""
    return sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outputs)


def forward_backward(fn, model: torch.nn.Module, x: torch.Tensor):
    """Outputs, parameter gradients and input gradient of ``weighted_sum(fn(x))``."""
    model.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_()
    torch.manual_seed(1)  # RoR's drop-layer draws from the global RNG: the same draws in both runs
    outputs = fn(x)
    weighted_sum(outputs).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad] + [x.grad]
    return [o.detach() for o in outputs], grads


def assert_one_graph_no_breaks() -> None:
    assert counters['stats']['unique_graphs'] == 1, dict(counters['stats'])
    assert not counters['graph_break'], dict(counters['graph_break'])


@pytest.mark.parametrize('name', VARIANTS)
def test_training_compiles_fullgraph_dynamic_with_eager_values_and_gradients(name):
    torch.manual_seed(0)
    model = build_backbone_variant(name).train()
    compiled = torch.compile(model, fullgraph=True, dynamic=True, backend='aot_eager')
    with torch._dynamo.config.patch(**STRICT_DYNAMO):
        for hw in VARIANT_INPUT_SIZES:
            x = torch.randn(2, 3, *hw)
            outputs, grads = forward_backward(compiled, model, x)
            expected_outputs, expected_grads = forward_backward(model, model, x)
            assert max_abs_difference(outputs, expected_outputs) <= FORWARD_ATOL, hw
            for grad, expected in zip(grads, expected_grads):
                torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-5)
    assert_one_graph_no_breaks()


class SideBySide(torch.nn.Module):
    """Several variants side by side: one module, so Inductor generates and compiles code once."""

    def __init__(self, names) -> None:
        super().__init__()
        self.backbones = torch.nn.ModuleList(build_backbone_variant(name) for name in names)

    def forward(self, x: torch.Tensor):
        return tuple(out for backbone in self.backbones for out in backbone(x))


def test_inductor_inference_without_recompiles():
    """Inductor for inference: the same values, one graph for the three sizes.

    SIMD code generation is off: Inductor's shape guards come from its lowering, not from the
    vectorised loops, and the plain C++ compiles in half the time (a vectorised compile of every
    variant together passed too, in half an hour on 2 busy cores).
    """
    torch.manual_seed(0)
    model = SideBySide(INDUCTOR_VARIANTS).eval()
    compiled = torch.compile(model, fullgraph=True, dynamic=True)  # Inductor
    with (
        torch._dynamo.config.patch(**STRICT_DYNAMO),
        torch._inductor.config.patch({'cpp.vec_isa_ok': False}),
        torch.no_grad(),
    ):
        for hw in VARIANT_INPUT_SIZES:
            x = torch.randn(2, 3, *hw)
            assert max_abs_difference(compiled(x), model(x)) <= FORWARD_ATOL, hw
    assert_one_graph_no_breaks()


@pytest.mark.parametrize('name', VARIANTS)
def test_strict_export_with_dynamic_size_and_onnx_matching_pytorch(name, tmp_path):
    torch.manual_seed(0)
    model = build_backbone_variant(name).eval()
    onnx_file = str(tmp_path / f'{name}.onnx')
    # One strict torch.export (dynamic batch, height and width) serves both checks.
    program = export_onnx(model, torch.randn(2, 3, 64, 80), onnx_file, dynamic=True)
    exported = program.module()
    with torch.no_grad():
        for hw in VARIANT_INPUT_SIZES:
            x = torch.randn(1, 3, *hw)
            assert max_abs_difference(exported(x), model(x)) <= 1e-5, hw
        # onnxruntime on an odd size the file was not exported at.
        x = torch.randn(1, 3, 161, 199)
        onnx_outputs = run_session(inference_session(onnx_file), x)
        assert max_abs_difference(onnx_outputs, model(x)) <= FORWARD_ATOL
    assert osp.getsize(onnx_file) > 0
