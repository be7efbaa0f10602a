"""The fused ConvLSTM kernel (``mmdet_rla.ops``): the function of the cell's PyTorch path, where it runs."""

import warnings

import pytest
import torch

from mmdet_rla import ops
from mmdet_rla.models.backbones.rnn_regnet import RNNRegNet
from mmdet_rla.models.layers import conv_rnn
from mmdet_rla.models.layers.conv_rnn import ConvLSTMCell
from mmdet_rla.ops import conv_lstm as fused_module

# Shapes that reach every code path of the kernel: interior runs of 4 pixels and border columns, one row or
# column, channel counts with and without a partial SIMD block (16 float32 / 8 float64 lanes).
SHAPES = [(2, 20, 5, 7), (2, 32, 9, 11), (1, 16, 1, 1), (1, 8, 1, 12), (3, 24, 12, 1), (1, 3, 6, 6)]


@pytest.fixture(autouse=True)
def kernel_built():
    """These tests need the kernel: a machine that cannot build it fails them (it never skips them)."""
    assert ops.fused_available(), f'the fused kernel is not available: {ops.unavailable_reason()}'


def pytorch_path(monkeypatch) -> None:
    monkeypatch.setenv('MMDET_RLA_FUSED_OPS', '0')


def step_and_gradients(cell, x, state, weights):
    """The cell's outputs and the gradients of a loss reading both of them, for x, the state and the parameters."""
    new_h, new_c = cell(x, state)
    loss = (new_h * weights[0]).sum() + (new_c * weights[1]).sum()
    inputs = [x, *(state or ()), *cell.parameters()]
    return (new_h, new_c), torch.autograd.grad(loss, inputs)


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('with_state', [True, False])
@pytest.mark.parametrize('memory_format', [torch.contiguous_format, torch.channels_last])
def test_fused_step_is_the_pytorch_cell_in_float64(shape, with_state, memory_format, monkeypatch):
    torch.manual_seed(0)
    cell = ConvLSTMCell(shape[1], shape[1]).double()
    x = torch.randn(shape, dtype=torch.float64).contiguous(memory_format=memory_format).requires_grad_()
    state = tuple(torch.randn(shape, dtype=torch.float64, requires_grad=True) for _ in range(2)) if with_state else None
    weights = [torch.randn(shape, dtype=torch.float64) for _ in range(2)]
    calls = []
    monkeypatch.setattr(conv_rnn, 'light_conv_lstm', lambda *a: calls.append(1) or ops.light_conv_lstm(*a))
    fused, fused_grads = step_and_gradients(cell, x, state, weights)
    assert calls == [1]
    pytorch_path(monkeypatch)
    plain, plain_grads = step_and_gradients(cell, x, state, weights)
    assert calls == [1]
    assert fused[0].is_contiguous(memory_format=memory_format)  # h in the caller's layout, as before
    for got, want in zip((*fused, *fused_grads), (*plain, *plain_grads)):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_fused_step_gradcheck_in_every_argument():
    torch.manual_seed(0)
    b, n, height, width = 2, 10, 4, 7
    x, h, c = (torch.randn(b, n, height, width, dtype=torch.float64, requires_grad=True) for _ in range(3))
    taps_x, taps_h = (0.3 * torch.randn(9, 4, n, dtype=torch.float64, requires_grad=True) for _ in range(2))
    bias = torch.randn(4, n, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(ops.light_conv_lstm, (x, h, c, taps_x, taps_h, bias))
    assert torch.autograd.gradcheck(
        lambda *a: ops.light_conv_lstm(a[0], a[1], None, *a[2:]), (x, h, taps_x, taps_h, bias)
    )
    # One output only (the other's gradient is None).
    assert torch.autograd.gradcheck(lambda *a: ops.light_conv_lstm(*a)[0], (x, h, c, taps_x, taps_h, bias))
    assert torch.autograd.gradcheck(lambda *a: ops.light_conv_lstm(*a)[1], (x, h, c, taps_x, taps_h, bias))


@pytest.mark.parametrize('grad_mode', ['grad', 'no_grad', 'inference_mode'])
def test_float32_agrees_with_the_pytorch_path_to_rounding(grad_mode, monkeypatch):
    torch.manual_seed(0)
    cell = ConvLSTMCell(64, 64)
    x, h, c = (torch.randn(2, 64, 10, 9) for _ in range(3))
    weights = [torch.randn(2, 64, 10, 9) for _ in range(2)]
    results = []
    for switch in ('1', '0'):
        monkeypatch.setenv('MMDET_RLA_FUSED_OPS', switch)
        if grad_mode == 'grad':
            x.requires_grad_(), h.requires_grad_(), c.requires_grad_()
            results.append(step_and_gradients(cell, x, (h, c), weights))
        else:
            with torch.no_grad() if grad_mode == 'no_grad' else torch.inference_mode():
                results.append((cell(x, (h, c)), ()))
    (fused, fused_grads), (plain, plain_grads) = results
    for got, want in zip(fused, plain):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-6)
    for got, want in zip(fused_grads, plain_grads):  # parameter gradients sum thousands of products
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())


def test_the_kernel_runs_only_where_it_computes_the_same_function(monkeypatch):
    calls = []
    monkeypatch.setattr(conv_rnn, 'light_conv_lstm', lambda *a: calls.append(1) or ops.light_conv_lstm(*a))
    torch.manual_seed(0)
    x = torch.randn(1, 8, 5, 5)

    def runs_fused(cell, x=x):
        del calls[:]
        cell(x)
        return bool(calls)

    assert runs_fused(ConvLSTMCell(8, 8))
    assert runs_fused(ConvLSTMCell(8, 8).double(), x.double())
    assert not runs_fused(ConvLSTMCell(8, 8, conv_type='conv3x3'))
    assert not runs_fused(ConvLSTMCell(8, 8, fuse_steps=False))  # the paper's two steps, literally
    assert not runs_fused(ConvLSTMCell(8, 8, norm_cfg=dict(type='GN', num_groups=1)))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert not runs_fused(ConvLSTMCell(8, 8))
    del calls[:]
    torch.jit.trace(ConvLSTMCell(8, 8), (x,), check_trace=False)  # a recorded graph holds the equations
    assert not calls
    monkeypatch.setenv('MMDET_RLA_FUSED_OPS', '0')
    assert not runs_fused(ConvLSTMCell(8, 8))
    assert ops.unavailable_reason() == 'MMDET_RLA_FUSED_OPS=0'


@pytest.mark.parametrize('depth', [18, 50])
def test_regnet_backbone_is_the_same_function_with_the_kernel(depth, monkeypatch):
    """Shared cells across the steps of a stage, strided stages, state transitions, BN in training mode: the
    backbone's outputs and every parameter's gradient, in float64."""
    torch.manual_seed(0)
    model = RNNRegNet(depth=depth, regulator='lstm').double().train()
    x = torch.randn(2, 3, 45, 38, dtype=torch.float64)
    results = []
    for switch in ('1', '0'):
        monkeypatch.setenv('MMDET_RLA_FUSED_OPS', switch)
        outs = model(x)
        loss = sum((o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view_as(o)).sum() for o in outs)
        results.append((outs, torch.autograd.grad(loss, list(model.parameters()))))
    (fused, fused_grads), (plain, plain_grads) = results
    for got, want in zip((*fused, *fused_grads), (*plain, *plain_grads)):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_the_kernel_refuses_arguments_that_do_not_fit():
    x = torch.randn(1, 8, 4, 4)
    taps, bias = torch.randn(9, 4, 8), torch.randn(4, 8)
    forward = torch.ops.mmdet_rla.light_conv_lstm_forward
    with pytest.raises(RuntimeError, match=r'taps must be \(9, 4, 8\)'):
        forward(x, x, None, torch.randn(9, 3, 8), taps, bias)
    with pytest.raises(RuntimeError, match=r'bias must be \(4, 8\)'):
        forward(x, x, None, taps, taps, torch.randn(8))
    with pytest.raises(RuntimeError, match='h and c must be like x'):
        forward(x, torch.randn(1, 8, 4, 5), None, taps, taps, bias)
    with pytest.raises(RuntimeError, match='float32 or float64'):
        forward(x.half(), x.half(), None, taps.half(), taps.half(), bias.half())


def test_a_failed_build_warns_once_and_the_cells_keep_their_pytorch_path(tmp_path, monkeypatch):
    broken = tmp_path / 'broken.cpp'
    broken.write_text('this is not C++\n')
    monkeypatch.setattr(fused_module, 'SOURCE', broken)
    monkeypatch.setattr(fused_module, '_build_flags', lambda: ('mmdet_rla_test_broken_build', ['-O0'], []))
    monkeypatch.setattr(fused_module, '_status', {})
    monkeypatch.setenv('TORCH_EXTENSIONS_DIR', str(tmp_path / 'extensions'))
    with pytest.warns(UserWarning, match='could not be built, so the cells use their PyTorch path'):
        assert not ops.fused_available()
    assert 'Error' in ops.unavailable_reason()
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no second warning
        assert not ops.fused_available()
    torch.manual_seed(0)
    cell, x = ConvLSTMCell(8, 8), torch.randn(1, 8, 5, 5)
    new_h, _ = cell(x)
    monkeypatch.undo()  # the real kernel again
    assert ops.fused_available()
    torch.testing.assert_close(cell(x)[0], new_h, rtol=1e-5, atol=1e-6)


def test_torch_compile_calls_the_kernel_as_one_op_with_its_backward():
    """Under torch.compile the step is one opaque op (its shapes registered for tracing), with the same values
    and gradients as eager; dynamic sizes need no recompilation."""
    torch.manual_seed(0)
    cell = ConvLSTMCell(16, 16)
    targets = []

    def recording_backend(graph_module, example_inputs):
        targets.extend(str(node.target) for node in graph_module.graph.nodes)
        return graph_module.forward

    torch.compile(cell, backend=recording_backend, fullgraph=True)(torch.randn(2, 16, 6, 7))
    assert any(target.startswith('mmdet_rla.light_conv_lstm_forward') for target in targets), targets
    torch._dynamo.reset()
    # AOTAutograd's joint graph: the registered shapes of both kernels and the backward formula.
    compiled = torch.compile(cell, backend='aot_eager', fullgraph=True, dynamic=True)
    for hw in ((6, 7), (9, 5)):
        x, h, c = (torch.randn(2, 16, *hw, requires_grad=True) for _ in range(3))
        weights = [torch.randn(2, 16, *hw) for _ in range(2)]
        with torch._dynamo.config.patch(error_on_recompile=hw != (6, 7)):
            got, got_grads = step_and_gradients(compiled, x, (h, c), weights)
        want, want_grads = step_and_gradients(cell, x, (h, c), weights)
        for a, b in zip((*got, *got_grads), (*want, *want_grads)):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    torch._dynamo.reset()
