"""Behaviour of the RLA-ResNet backbone and its detector configs."""

import glob
import os
import re

import pytest
import torch
from conftest import COUNTS, literal_rla_residual
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet_rla.models import RLAResNet, RLAResNeXt
from mmdet_rla.registry import MMPRETRAIN_MODELS, build_model
from mmdet_rla.testing import detector_smoke_test

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RLA_CONFIGS = sorted(glob.glob(os.path.join(REPO, 'configs', 'rla', '*_coco.py')))


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    'depth,stem_type,channels',
    [
        (18, 'imagenet', (64, 128, 256, 512)),
        (34, 'imagenet', (64, 128, 256, 512)),
        (50, 'imagenet', (256, 512, 1024, 2048)),
        (101, 'imagenet', (256, 512, 1024, 2048)),
        (152, 'imagenet', (256, 512, 1024, 2048)),
        (20, 'cifar', (16, 32, 64)),
        (110, 'cifar', (16, 32, 64)),
        (164, 'cifar', (64, 128, 256)),
    ],
)
def test_every_depth_builds_through_the_registry(depth, stem_type, channels):
    model = build_model(dict(type='RLAResNet', depth=depth, stem_type=stem_type)).eval()
    assert isinstance(model, RLAResNet)
    size = 32 if stem_type == 'cifar' else 64
    with torch.no_grad():
        outs = model(torch.rand(1, 3, size, size))
    assert tuple(o.shape[1] for o in outs) == channels


def test_registered_for_mmpretrain_too():
    assert MMPRETRAIN_MODELS is not None
    assert MMPRETRAIN_MODELS.get('RLAResNet') is RLAResNet


@pytest.mark.parametrize('out_indices', [(0,), (1,), (2,), (3,), (0, 2), (0, 1, 2, 3)])
def test_out_indices_channels_and_strides(out_indices):
    model = RLAResNet(depth=18, out_indices=out_indices).eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, 64, 96))
    assert len(outs) == len(out_indices)
    for i, out in zip(out_indices, outs):
        stride = 4 * 2**i
        assert out.shape == (2, 64 * 2**i, 64 // stride, 96 // stride)


@pytest.mark.parametrize('hw', [(97, 131), (225, 225), (33, 31)])
def test_odd_input_sizes(hw):
    model = RLAResNet(depth=50).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, *hw))
    # stem: conv /2 then max-pool /2, then /2 per stage; every strided step rounds up.
    h, w = hw
    for _ in range(2):
        h, w = (h + 1) // 2, (w + 1) // 2
    for i, out in enumerate(outs):
        assert out.shape[-2:] == (h, w), (i, out.shape)
        h, w = (h + 1) // 2, (w + 1) // 2


def test_parameter_counts_match_the_official_backbone():
    # The official detection backbone has 23,789,632 / 42,922,112 parameters, 64 of which belong to
    # the norm of an update after the last block that no output reads; this backbone drops it.
    assert n_params(RLAResNet(depth=50)) == COUNTS['rla-resnet50']['params'] == 23_789_568
    assert n_params(RLAResNet(depth=101)) == COUNTS['rla-resnet101']['params']
    # ECA adds one 1-D kernel per block: 13 blocks of size 5 and 3 of size 7 at depth 50.
    assert n_params(RLAResNet(depth=50, channel_attention='eca')) == COUNTS['rla-resnet50']['params'] + 86
    assert COUNTS['rla-eca-resnet50']['params'] == COUNTS['rla-resnet50']['params'] + 86
    # The classification variant keeps the last update and the output norm (2 x 64 parameters): the official
    # count without its fc layer.
    assert n_params(RLAResNet(depth=50, with_rla_output=True)) == COUNTS['rla-resnet50']['params'] + 128
    assert COUNTS['rla-resnet50-rla-output']['params'] == COUNTS['rla_resnet50']['params'] == 23_789_568 + 128


def test_classification_output_concatenates_the_state():
    model = RLAResNet(depth=50, with_rla_output=True, out_indices=(3,)).eval()
    with torch.no_grad():
        (out,) = model(torch.rand(1, 3, 64, 64))
    assert out.shape == (1, 2048 + 32, 2, 2)
    assert model.feat_dim == 2080
    assert (out[:, 2048:] >= 0).all()  # ReLU(BN(h))


def test_zero_init_of_last_norm_and_kaiming_init():
    model = RLAResNet(depth=50)
    model.init_weights()
    for stage in (model.layer1, model.layer4):
        for block in stage.blocks:
            assert torch.count_nonzero(block.norm3.weight) == 0
            assert torch.count_nonzero(block.norm1.weight) == block.norm1.weight.numel()
    basic = RLAResNet(depth=18)
    basic.init_weights()
    assert torch.count_nonzero(basic.layer2.blocks[1].norm2.weight) == 0


def test_frozen_stages_freeze_rla_parts_and_norm_eval_holds():
    model = RLAResNet(depth=18, frozen_stages=2, norm_eval=True)
    model.train()
    frozen = ['conv1', 'bn1', 'layer1', 'layer2']
    for name, param in model.named_parameters():
        expect_frozen = any(name.startswith(f + '.') for f in frozen)
        assert param.requires_grad != expect_frozen, name
    for part in (model.layer1.conv_out, model.layer1.recurrent_conv, model.layer2.norms[0]):
        assert all(not p.requires_grad for p in part.parameters())
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            assert not m.training
    # With norm_eval=False only the frozen stages' norms stay in eval mode.
    model = RLAResNet(depth=18, frozen_stages=1, norm_eval=False)
    model.train()
    assert not model.layer1.norms[0].training
    assert model.layer2.norms[0].training and model.layer2.blocks[0].bn1.training


@pytest.mark.parametrize(
    'cfg',
    [
        dict(type='RLAResNet', depth=18),
        # RLA-ResNeXt and a ConvLSTM design (tests/test_rla_variants.py), small widths.
        dict(type='RLAResNeXt', depth=50, groups=4, base_width=4, base_channels=16, rla_channels=8),
        dict(type='RLAResNet', depth=50, rla_cell='lstm', base_channels=16, rla_channels=8),
    ],
    ids=['rla-r18', 'rla-resnext', 'rla-lstm'],
)
def test_with_cp_gives_the_same_outputs_and_gradients(cfg):
    torch.manual_seed(0)
    plain = build_model(dict(cfg, norm_eval=False))
    checkpointed = build_model(dict(cfg, norm_eval=False, with_cp=True))
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 65, 47, requires_grad=True)
    outs_plain = plain.train()(x)
    outs_cp = checkpointed.train()(x)
    for a, b in zip(outs_plain, outs_cp):
        torch.testing.assert_close(a, b)
    sum(o.square().sum() for o in outs_plain).backward()
    sum(o.square().sum() for o in outs_cp).backward()
    for (name, p), q in zip(plain.named_parameters(), checkpointed.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)


@pytest.mark.parametrize('depth', [18, 50])
def test_every_parameter_gets_a_gradient_in_detection_mode(depth):
    model = RLAResNet(depth=depth, frozen_stages=-1, norm_eval=False).train()
    outs = model(torch.rand(2, 3, 64, 64))
    sum(o.mean() for o in outs).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == []


def test_state_follows_input_dtype_and_device():
    model = RLAResNet(depth=18).eval().double()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 40, 40, dtype=torch.float64))
    assert all(o.dtype == torch.float64 for o in outs)
    model = RLAResNet(depth=18).eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(torch.rand(1, 3, 41, 39))
    assert all(torch.isfinite(o.float()).all() for o in outs)


def test_rla_input_choices_differ_and_output_matches_block_output():
    torch.manual_seed(0)
    residual = RLAResNet(depth=18, rla_input='residual', zero_init_residual=False).eval()
    output = RLAResNet(depth=18, rla_input='output', zero_init_residual=False).eval()
    output.load_state_dict(residual.state_dict())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a, b = residual(x)[-1], output(x)[-1]
    assert not torch.allclose(a, b)


def test_state_update_is_the_papers_equation():
    """h' = Conv3(tanh(BN(h + Conv1(y)))), checked on one stage against a hand computation."""
    torch.manual_seed(0)
    model = RLAResNet(depth=18, zero_init_residual=False).eval()
    stage = model.layer1
    x = torch.rand(1, 64, 16, 16)
    h = torch.rand(1, 32, 16, 16)
    with torch.no_grad():
        x_out, (h_out,) = stage(x, (h,))
        expected_h = h
        expected_x = x
        for t, block in enumerate(stage.blocks):
            y = literal_rla_residual(block, expected_x, expected_h)
            expected_x = torch.relu(y + expected_x)
            expected_h = stage.recurrent_conv(torch.tanh(stage.norms[t](expected_h + stage.conv_out(y))))
    torch.testing.assert_close(x_out, expected_x)
    torch.testing.assert_close(h_out, expected_h)


@pytest.mark.parametrize(
    'cfg',
    [
        dict(depth=50, base_channels=8, rla_channels=4),
        dict(depth=18, base_channels=8, rla_channels=4, rla_input='output', channel_attention='eca'),
        dict(depth=50, base_channels=8, rla_channels=4, with_rla_output=True, out_indices=(3,), style='caffe'),
    ],
    ids=['bottleneck', 'basic-eca-output', 'classifier-caffe'],
)
def test_split_first_conv_is_the_concatenation_in_float64(cfg, monkeypatch):
    """The blocks compute conv1(concat(x, h)) as W_x * x + W_h * h: the same function, values and every
    gradient, as the literal concatenation (float64, train mode, odd input size)."""
    torch.manual_seed(0)
    model = RLAResNet(zero_init_residual=False, **cfg).double().train()
    for module in model.modules():  # non-trivial norms, so every path carries signal
        if isinstance(module, _BatchNorm):
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            torch.nn.init.uniform_(module.bias, -0.2, 0.2)
    x = torch.rand(2, 3, 61, 47, dtype=torch.float64)

    def run():
        model.zero_grad()
        outs = model(x)
        sum((o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view_as(o)).sum() for o in outs).backward()
        return [o.detach() for o in outs], {n: p.grad.clone() for n, p in model.named_parameters()}

    fast_outs, fast_grads = run()
    block_type = type(model.layer1.blocks[0])

    def literal_read_input(block, x, h, x_term=None):
        assert x_term is None  # these designs merge nothing into conv1 (RLAStage.merges_conv_out)
        return block.conv1(torch.cat([x, h], dim=1))

    monkeypatch.setattr(block_type, 'read_input', literal_read_input)
    literal_outs, literal_grads = run()
    for fast, literal in zip(fast_outs, literal_outs):
        torch.testing.assert_close(fast, literal, rtol=1e-12, atol=1e-12)
    assert fast_grads.keys() == literal_grads.keys()
    for name in fast_grads:
        torch.testing.assert_close(fast_grads[name], literal_grads[name], rtol=1e-10, atol=1e-12, msg=name)
    assert fast_grads['layer2.blocks.1.conv1.weight'][:, -4:].abs().sum() > 0  # h's columns are trained


def _randomise_norms(model: torch.nn.Module) -> None:
    """Non-trivial norms (and running statistics), so that every path carries signal."""
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            torch.nn.init.uniform_(module.bias, -0.2, 0.2)
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)


@pytest.mark.parametrize(
    'cfg,norm_eval,folds',
    [
        (dict(depth=50), True, True),  # detection training: norm_eval=True
        (dict(depth=50, frozen_stages=1), True, True),
        (dict(depth=50, with_rla_output=True, out_indices=(3,)), True, True),
        (dict(depth=50), False, False),  # batch statistics: BN is not a fixed affine map
        (dict(depth=50, channel_attention='se'), True, False),  # attention between BN and the sum
        (dict(depth=18), True, False),  # the last conv of a basic block is a 3x3
    ],
    ids=['norm-eval', 'frozen', 'classifier', 'bn-train', 'se', 'basic'],
)
def test_folded_conv_out_is_the_literal_conv_out_in_float64(cfg, norm_eval, folds, monkeypatch):
    """fold_conv_out computes Conv1_s(y) of a bottleneck from its last conv's input through the
    folded norm: the same outputs and every gradient as Conv1_s(BN(W u)) read literally (float64,
    training, odd input size); it folds exactly where that is the same function and cheaper."""
    torch.manual_seed(0)
    kwargs = dict(base_channels=8, rla_channels=4, zero_init_residual=False, norm_eval=norm_eval, **cfg)
    literal = RLAResNet(fold_conv_out=False, **kwargs).double()
    _randomise_norms(literal)
    fast = RLAResNet(fold_conv_out=True, **kwargs).double()
    fast.load_state_dict(literal.state_dict())
    x = torch.rand(2, 3, 61, 47, dtype=torch.float64)
    from mmdet_rla.models.backbones.rla_resnet import _RLABlockMixin

    folded = []  # (stage, whether Conv1_s(y) was folded), per call
    fold = _RLABlockMixin.folded_conv_out

    def spy(block, conv_out, u):
        result = fold(block, conv_out, u)
        folded.append((conv_out.in_channels, result is not None))
        return result

    monkeypatch.setattr(_RLABlockMixin, 'folded_conv_out', spy)

    def run(model):
        model.train()
        model.zero_grad()
        outs = model(x)
        sum((o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view_as(o)).sum() for o in outs).backward()
        return [o.detach() for o in outs], {n: p.grad for n, p in model.named_parameters() if p.grad is not None}

    literal_outs, literal_grads = run(literal)
    assert not any(f for _, f in folded)  # fold_conv_out=False never folds
    folded.clear()
    fast_outs, fast_grads = run(fast)
    assert any(f for _, f in folded) == folds
    if folds:  # N H W (C - m) > C m: stages 1-2 (16x12, 8x6 maps) fold; on 4x3 and 2x2 maps composing costs more
        assert {c for c, f in folded if f} == {32, 64}
        assert {c for c, f in folded if not f} == {128, 256}
    for a, b in zip(fast_outs, literal_outs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert fast_grads.keys() == literal_grads.keys()
    for name in fast_grads:
        torch.testing.assert_close(fast_grads[name], literal_grads[name], rtol=1e-10, atol=1e-12, msg=name)
    if folds:
        assert fast_grads['layer2.blocks.0.bn3.weight'].abs().sum() > 0  # gamma trained through the fold
        assert fast_grads['layer2.conv_out.weight'].abs().sum() > 0


@pytest.mark.parametrize(
    'cfg,conv_out_calls',
    [
        (dict(depth=50), (1, 1, 1, 0)),  # stage 4 of a detection backbone: 2 updates, both merged
        (dict(depth=50, norm_eval=False, frozen_stages=1), (1, 1, 1, 0)),  # batch statistics change nothing here
        (dict(depth=50, with_cp=True), (1, 1, 1, 0)),
        (dict(depth=50, rla_cell='lstm'), (1, 1, 1, 0)),
        (dict(depth=50, rla_exchange=False, with_rla_output=True, out_indices=(3,)), (1, 1, 1, 1)),
        (dict(resnext=True, depth=50, groups=2, base_width=4), (1, 1, 1, 0)),
        (dict(depth=18), (2, 2, 2, 1)),  # a basic block's first conv is a 3x3: nothing merged
    ],
    ids=['norm-eval', 'bn-train-frozen', 'with-cp', 'lstm', 'no-exchange-classifier', 'resnext', 'basic'],
)
def test_merged_conv_out_is_the_literal_conv_out_in_float64(cfg, conv_out_calls):
    """With rla_input='output', Conv1_s of block t's output and the x-part of block t+1's first conv
    run as one convolution (RLAStage.merges_conv_out): the same outputs and every gradient as the two
    convolutions (float64, training, odd input size); only the last update of a stage calls conv_out."""
    torch.manual_seed(0)
    cfg = dict(cfg)
    cls = RLAResNeXt if cfg.pop('resnext', False) else RLAResNet
    kwargs = dict(base_channels=8, rla_channels=4, zero_init_residual=False, rla_input='output', **cfg)
    literal = cls(fold_conv_out=False, **kwargs).double()
    _randomise_norms(literal)
    fast = cls(fold_conv_out=True, **kwargs).double()
    fast.load_state_dict(literal.state_dict())
    x = torch.rand(2, 3, 61, 47, dtype=torch.float64, requires_grad=True)

    def run(model):
        calls = [0] * len(model.res_layers)
        for index, name in enumerate(model.res_layers):
            getattr(model, name).conv_out.register_forward_hook(
                lambda *_, index=index: calls.__setitem__(index, calls[index] + 1)
            )
        model.train()
        model.zero_grad()
        x.grad = None
        outs = model(x)
        sum((o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view_as(o)).sum() for o in outs).backward()
        grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
        return [o.detach() for o in outs], dict(grads, input=x.grad.clone()), tuple(calls)

    literal_outs, literal_grads, literal_calls = run(literal)
    fast_outs, fast_grads, fast_calls = run(fast)
    assert literal_calls == tuple(len(getattr(literal, name).norms) for name in literal.res_layers)
    assert fast_calls == conv_out_calls
    for a, b in zip(fast_outs, literal_outs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert fast_grads.keys() == literal_grads.keys()
    for name in fast_grads:
        torch.testing.assert_close(fast_grads[name], literal_grads[name], rtol=1e-10, atol=1e-12, msg=name)
    assert fast_grads['layer2.conv_out.weight'].abs().sum() > 0


@pytest.mark.parametrize('fold_conv_out,in_place', [(True, True), (False, False)])
def test_folded_block_adds_the_shortcut_in_place(fold_conv_out, in_place):
    """Once Conv1_s reads u, nothing needs y for the backward pass: the shortcut is added in y's
    memory (no extra map of the block's output size per block); the literal path keeps y."""
    model = RLAResNet(depth=50, base_channels=8, rla_channels=4, fold_conv_out=fold_conv_out).train()
    block = model.layer1.blocks[0]
    seen = {}
    block.norm3.register_forward_hook(lambda m, i, o: seen.update(y=o.data_ptr()))
    out, info = block(torch.rand(2, 8, 16, 16, requires_grad=True), torch.rand(2, 4, 16, 16), model.layer1.conv_out)
    assert (out.data_ptr() == seen['y']) == in_place
    assert info.shape == (2, 4, 16, 16)


def test_fold_projection_composes_conv_norm_and_projection():
    from mmdet_rla.models.layers import fold_projection

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 12, 1, bias=True).double()
    norm = torch.nn.BatchNorm2d(12).double()
    project = torch.nn.Conv2d(12, 3, 1, bias=True).double()
    _randomise_norms(norm)
    u = torch.randn(2, 6, 5, 7, dtype=torch.float64)
    norm.train()
    assert fold_projection(project, conv, norm) is None  # batch statistics
    norm.eval()
    weight, bias = fold_projection(project, conv, norm)
    assert weight.shape == (3, 6, 1, 1)
    torch.testing.assert_close(torch.nn.functional.conv2d(u, weight, bias), project(norm(conv(u))))
    no_affine = torch.nn.BatchNorm2d(12, affine=False).double().eval()
    weight, bias = fold_projection(project, conv, no_affine)
    torch.testing.assert_close(torch.nn.functional.conv2d(u, weight, bias), project(no_affine(conv(u))))
    assert fold_projection(project, torch.nn.Conv2d(6, 12, 3, padding=1).double(), norm) is None
    assert fold_projection(project, conv, torch.nn.GroupNorm(3, 12).double().eval()) is None


@pytest.mark.parametrize(
    'kwargs,pattern',
    [
        (dict(depth=42), r'depth must be one of \[18, 34, 50, 101, 152\], got 42'),
        (dict(depth=50, rla_channels=0), r'rla_channels must be a positive integer, got 0'),
        (dict(depth=50, out_indices=(0, 4)), r'out_indices must hold distinct stage indices in \[0, 3\]'),
        (dict(depth=50, frozen_stages=7), r'frozen_stages must be an integer in \[-1, 4\], got 7'),
        (dict(depth=50, channel_attention='cbam'), r"channel_attention must be one of \[None, 'se', 'eca'\]"),
        (dict(depth=50, rla_input='both'), r"rla_input must be one of \['residual', 'output', 'identity'\]"),
        (dict(depth=50, stem_type='tiny'), r"stem_type must be one of \['imagenet', 'cifar'\]"),
        (dict(depth=50, stem_type='cifar'), r'depth must be one of \[20, 32, 44, 56, 110, 164\], got 50'),
        (dict(depth=50, style='keras'), r"style must be one of \['pytorch', 'caffe'\]"),
        (dict(depth=50, strides=(1, 2, 2)), r'strides must have one entry per stage'),
        (dict(depth=50, channel_attention='eca', eca_kernel_sizes=(4, 4, 4, 4)), r'eca_kernel_size must be odd'),
    ],
)
def test_bad_arguments_name_the_argument_and_allowed_values(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        RLAResNet(**kwargs)


# The model, data, engine, conversion and deployment code runs wherever its tensors are: no CUDA name at all.
DEVICE_FREE_PARTS = ('models', 'datasets', 'engine', 'converters', 'deploy', 'ops', 'analysis')
# Anywhere in the package, a device is chosen, never imposed: no .cuda(), no unconditional 'cuda' device.
IMPOSED_CUDA = re.compile(r"""\.cuda\(|(device\s*=|torch\.device\(|\.to\()\s*["']cuda(:\d+)?["'](?!\s+if\b)""")


def test_no_hard_coded_cuda_in_the_package():
    package = os.path.join(REPO, 'mmdet_rla')
    offenders = []
    for path in glob.glob(os.path.join(package, '**', '*.py'), recursive=True):
        part = os.path.relpath(path, package).split(os.sep)[0]
        with open(path, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                code = line.split('#')[0]
                if IMPOSED_CUDA.search(code) or (
                    part in DEVICE_FREE_PARTS and re.search(r"""["']cuda(:\d+)?["']""", code)
                ):
                    offenders.append(f'{path}:{lineno}: {line.strip()}')
    assert offenders == []


def test_the_cuda_check_catches_imposed_devices():
    for line in ('x.cuda()', "device='cuda'", "torch.device('cuda:0')", "t.to('cuda')"):
        assert IMPOSED_CUDA.search(line), line
    for line in (
        "device.type == 'cuda'",
        "default='cuda' if torch.cuda.is_available() else 'cpu'",
        "torch.device('cuda' if torch.cuda.is_available() else 'cpu')",
    ):
        assert not IMPOSED_CUDA.search(line), line


def test_rla_configs_cover_three_detectors_and_four_backbones():
    names = {os.path.basename(p) for p in RLA_CONFIGS}
    for det in ('faster-rcnn', 'retinanet', 'mask-rcnn'):
        for var in ('rla-r50', 'rla-r101', 'rla-eca-r50', 'rla-eca-r101'):
            assert f'{det}_{var}_fpn_1x_coco.py' in names


@pytest.mark.parametrize('config', RLA_CONFIGS, ids=os.path.basename)
def test_detector_config_trains_one_step_and_infers(config):
    losses, results = detector_smoke_test(config)
    assert losses and all(
        torch.isfinite(torch.as_tensor([float(x) for x in (v if isinstance(v, list) else [v])])).all()
        for v in losses.values()
    )
    assert len(results) == 1 and hasattr(results[0], 'pred_instances')
