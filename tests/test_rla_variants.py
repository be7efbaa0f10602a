"""RLA-ResNeXt and the RLA designs of the paper's Table 6 (RLAResNet arguments): behaviour and equations."""

import pytest
import torch
from conftest import literal_rla_residual
from mmdet.models.backbones import ResNeXt
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet_rla.models import RLAResNeXt
from mmdet_rla.registry import MMPRETRAIN_MODELS, build_model

# Small widths (16 base channels, k = 8) with bottlenecks: the wiring is under test, not the size.
SMALL = dict(depth=50, base_channels=16, rla_channels=8)
DESIGNS = {
    'resnext': dict(type='RLAResNeXt', groups=4, base_width=4),
    'unshared': dict(type='RLAResNet', share_rla=False, rla_input='residual'),
    'no-exchange': dict(type='RLAResNet', rla_exchange=False, with_rla_output=True),
    'lstm': dict(type='RLAResNet', rla_cell='lstm'),
    'gru': dict(type='RLAResNet', rla_cell='gru'),
    'postact': dict(type='RLAResNet', rla_activation='post'),
    'v4': dict(type='RLAResNet', rla_input='output', rla_integration='after_recurrence'),
    'v5': dict(type='RLAResNet', rla_input='identity'),
}


pytestmark = pytest.mark.usefixtures('one_torch_thread')


def build(design: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(dict(SMALL, **DESIGNS[design], **kwargs))


def test_rla_resnext_is_registered_and_has_resnext_blocks():
    assert MMPRETRAIN_MODELS.get('RLAResNeXt') is RLAResNeXt
    ours, theirs = RLAResNeXt(depth=50), ResNeXt(depth=50, groups=32, base_width=4)
    for name in ('layer1.blocks.0', 'layer3.blocks.5'):
        block = ours.get_submodule(name)
        reference = theirs.get_submodule(name.replace('.blocks', ''))
        assert block.conv2.groups == reference.conv2.groups == 32
        assert block.conv2.weight.shape == reference.conv2.weight.shape
        # Only the first 1x1 conv differs: it also reads the k = 32 channels of h.
        assert block.conv1.in_channels == reference.conv1.in_channels + 32
        assert block.conv1.out_channels == reference.conv1.out_channels


@pytest.mark.parametrize('design', list(DESIGNS))
def test_odd_input_sizes(design):
    model = build(design).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 33, 47))
    h, w = 9, 12  # stem /4 (rounding up), then /2 per stage
    for i, out in enumerate(outs):
        assert out.shape[-2:] == (h, w), (i, out.shape)
        h, w = (h + 1) // 2, (w + 1) // 2
    extra = 8 if design == 'no-exchange' else 0  # the classification output appends h
    assert outs[-1].shape[1] == 16 * 8 * 4 + extra


@pytest.mark.parametrize('design', list(DESIGNS))
def test_every_parameter_gets_a_gradient(design):
    model = build(design, frozen_stages=-1, norm_eval=False).train()
    outs = model(torch.rand(2, 3, 64, 64))
    sum(o.mean() for o in outs).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


@pytest.mark.parametrize('design', ['resnext', 'unshared', 'lstm', 'gru'])
def test_frozen_stages_freeze_rla_parts_and_norm_eval_holds(design):
    model = build(design, frozen_stages=2, norm_eval=True)
    model.train()
    frozen = ('conv1.', 'bn1.', 'layer1.', 'layer2.')
    for name, param in model.named_parameters():
        assert param.requires_grad != name.startswith(frozen), name
    rla_parts = [n for n, _ in model.layer2.named_parameters() if not n.startswith('blocks.')]
    assert rla_parts  # conv_out(s), recurrent units and norms are in the stage, so frozen with it
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))
    model = build(design, frozen_stages=1, norm_eval=False)
    model.train()
    assert not model.layer1.norms[0].training and model.layer2.norms[0].training


@pytest.mark.parametrize('rla_input', ['residual', 'output', 'identity'])
@pytest.mark.parametrize('integration', ['before_recurrence', 'after_recurrence'])
@pytest.mark.parametrize('activation,shared', [('pre', True), ('post', True), ('pre', False)])
def test_state_update_follows_the_papers_equations(rla_input, integration, activation, shared):
    """One strided stage by hand: y = F(concat(x, h)), x' = ReLU(y + identity), then with the chosen
    new information n (y, x' or identity) h' = R(h + C(n)) or R(h) + C(n), R pre- or post-activated."""
    torch.manual_seed(0)
    model = build_model(
        dict(
            SMALL,
            type='RLAResNet',
            zero_init_residual=False,
            rla_input=rla_input,
            rla_integration=integration,
            rla_activation=activation,
            share_rla=shared,
        )
    ).eval()
    stage = model.layer2
    x, h = torch.rand(1, 64, 16, 16), torch.rand(1, 8, 16, 16)
    with torch.no_grad():
        x_out, (h_out,) = stage(x, (h,))
        for t, block in enumerate(stage.blocks):
            y = literal_rla_residual(block, x, h)
            identity = x if block.downsample is None else block.downsample(x)
            x = torch.relu(y + identity)
            if t == 0:
                h = torch.nn.functional.avg_pool2d(h, 2, ceil_mode=True)
            conv_out = stage.conv_out if shared else stage.conv_outs[t]
            conv = stage.recurrent_conv if shared else stage.recurrent_convs[t]
            new = conv_out({'residual': y, 'output': x, 'identity': identity}[rla_input])
            inner = h + new if integration == 'before_recurrence' else h
            if activation == 'pre':
                h = conv(torch.tanh(stage.norms[t](inner)))
            else:
                h = torch.tanh(stage.norms[t](conv(inner)))
            if integration == 'after_recurrence':
                h = h + new
    torch.testing.assert_close(x_out, x)
    torch.testing.assert_close(h_out, h)


@pytest.mark.parametrize('cell', ['lstm', 'gru'])
def test_cells_read_the_activated_new_information(cell):
    """ConvLSTM / ConvGRU designs: state' = cell(tanh(BN(C(x'))), state) with the block output x'."""
    torch.manual_seed(0)
    model = build_model(
        dict(SMALL, type='RLAResNet', zero_init_residual=False, rla_input='output', rla_cell=cell)
    ).eval()
    stage = model.layer1
    x = torch.rand(1, 16, 12, 12)
    state = tuple(torch.rand(1, 8, 12, 12) for _ in range(2 if cell == 'lstm' else 1))
    with torch.no_grad():
        x_out, state_out = stage(x, state)
        for t, block in enumerate(stage.blocks):
            x, _ = block(x, state[0])
            state = stage.recurrent_cell(torch.tanh(stage.norms[t](stage.conv_out(x))), state)
    torch.testing.assert_close(x_out, x)
    assert len(state_out) == len(state)
    for a, b in zip(state_out, state):
        torch.testing.assert_close(a, b)


def test_classification_outputs():
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for kwargs, low, high in (
            (dict(), 0, None),
            (dict(rla_output='bn_tanh'), -1, 1),
            (dict(rla_cell='lstm'), -1, 1),
        ):
            model = build_model(dict(SMALL, type='RLAResNet', with_rla_output=True, out_indices=(3,), **kwargs))
            (out,) = model.eval()(x)
            state = out[:, 16 * 8 * 4 :]
            assert state.shape[1] == 8 and state.min() >= low and (high is None or state.max() <= high)
        # h itself (a cell's output) has no output norm; BN(h) variants do.
        gru = build_model(dict(SMALL, type='RLAResNet', with_rla_output=True, rla_cell='gru'))
        assert gru.layer4.output_norm is None


@pytest.mark.parametrize(
    'kwargs,pattern',
    [
        (
            dict(type='RLAResNet', rla_integration='later'),
            r"rla_integration must be one of \['before_recurrence', 'after_recurrence'\], got 'later'",
        ),
        (dict(type='RLAResNet', rla_cell='transformer'), r"rla_cell must be one of \['rnn', 'lstm', 'gru'\]"),
        (dict(type='RLAResNet', rla_activation='mid'), r"rla_activation must be one of \['pre', 'post'\]"),
        (dict(type='RLAResNet', share_rla='yes'), r'share_rla must be one of \[True, False\]'),
        (dict(type='RLAResNet', rla_exchange=0), r'rla_exchange must be one of \[True, False\]'),
        (
            dict(type='RLAResNet', rla_output='softmax'),
            r"rla_output must be one of \[None, 'bn_relu', 'bn_tanh', 'state'\]",
        ),
        (
            dict(type='RLAResNet', rla_cell='lstm', rla_integration='after_recurrence'),
            r"rla_integration='after_recurrence' needs rla_cell='rnn'",
        ),
        (dict(type='RLAResNet', rla_cell='gru', rla_activation='post'), r"rla_activation='post' needs rla_cell='rnn'"),
        (dict(type='RLAResNet', rla_exchange=False), r'rla_exchange=False needs with_rla_output=True'),
        (dict(type='RLAResNeXt', groups=0), r'groups must be a positive integer, got 0'),
        (dict(type='RLAResNeXt', base_width=-4), r'base_width must be a positive integer, got -4'),
        (dict(type='RLAResNeXt', depth=18), r'depth must be one of \[50, 101, 152\], got 18'),
        (dict(type='RLAResNeXt', stem_type='cifar'), r"stem_type must be one of \['imagenet'\], got 'cifar'"),
    ],
)
def test_bad_arguments_name_the_argument_and_allowed_values(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        build_model(dict(dict(depth=50), **kwargs))
