"""Starting the families from checkpoints: ResNetWarmStart keeps an ImageNet ResNet's function exactly, whatever
layout its file has, and Pretrained/ResNetWarmStart loads that would leave the trunk fresh stop with one line."""

import copy
import logging

import pytest
import torch
import torchvision
from mmdet.models.backbones import ResNet, ResNeXt
from mmengine.logging import MMLogger
from mmengine.model import initialize

from mmdet_rla.models import RLAResNet, RLAResNeXt, RNNRegNet, RoRResNet, RoRResNeXt
from mmdet_rla.models.backbones.rnn_regnet import identity_variance
from mmdet_rla.models.weight_init import LoadReport

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights and BatchNorm statistics (so that a tensor loaded into the wrong place, or a norm that is
    not an exact identity, shows in the outputs)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith('running_var'):
                tensor.uniform_(0.5, 2.0, generator=generator)
            elif name.endswith('running_mean'):
                tensor.uniform_(-0.2, 0.2, generator=generator)
            elif tensor.is_floating_point() and tensor.dim() == 1:  # norm weights and biases
                tensor.uniform_(0.3, 1.2, generator=generator)
            elif tensor.is_floating_point():
                tensor.normal_(0, (2.0 / tensor[0].numel()) ** 0.5, generator=generator)
    model.eval()  # (mmdet's ResNet.train returns None: no chaining)
    return model


@pytest.fixture(scope='module')
def resnet50():
    return randomise(ResNet(50))


@pytest.fixture(scope='module')
def resnet50_files(resnet50, tmp_path_factory):
    """The same random ResNet-50 in each layout a user may hold (``{layout: path}``)."""
    root = tmp_path_factory.mktemp('resnet50')
    state = resnet50.state_dict()
    fc = {'weight': torch.randn(1000, 2048), 'bias': torch.randn(1000)}
    # torchvision's classifier (its own class: the names are mmdet's, by design of mmdet's ResNet).
    tv = torchvision.models.resnet50(weights=None)
    tv.load_state_dict({**state, **{f'fc.{k}': v for k, v in fc.items()}}, strict=True)
    layouts = {
        'torchvision': tv.state_dict(),
        'mmdet backbone': state,
        'mmpretrain classifier': {
            'meta': {'epoch': 100},
            'state_dict': {
                **{f'backbone.{k}': v for k, v in state.items()},
                **{f'head.fc.{k}': v for k, v in fc.items()},
            },
        },
        'mmdet detector': {
            'meta': {},
            'state_dict': {
                **{f'backbone.{k}': v for k, v in state.items()},
                'neck.lateral_convs.0.conv.weight': torch.randn(256, 256, 1, 1),
            },
        },
        'DDP (module.)': {'state_dict': {f'module.{k}': v for k, v in state.items()}},
    }
    files = {}
    for index, (layout, content) in enumerate(layouts.items()):
        files[layout] = str(root / f'layout{index}.pth')
        torch.save(content, files[layout])
    return files


def warm_started(cls, checkpoint: str, dtype=torch.float32, **kwargs):
    model = cls(init_cfg=dict(type='ResNetWarmStart', checkpoint=checkpoint), **kwargs).to(dtype)
    model.init_weights()
    return model.eval()


def outputs(model, x):
    with torch.no_grad():
        return model(x)


FAMILIES = {
    'RLAResNet': (RLAResNet, {}),
    'RLAResNet-residual-unfolded': (RLAResNet, dict(rla_input='residual', fold_conv_out=False)),
    'RLAResNet-output': (RLAResNet, dict(rla_input='output')),
    'RNNRegNet-lstm': (RNNRegNet, dict(regulator='lstm')),
    'RNNRegNet-gru-input': (RNNRegNet, dict(regulator='gru', regulator_resolution='input')),
    'RNNRegNet-rnn': (RNNRegNet, dict(regulator='rnn')),
    'RNNRegNet-unregulated': (RNNRegNet, dict(regulator_stages=())),
    'RoRResNet-no-represent': (RoRResNet, dict(represent_ratio=0.0)),
}


@pytest.mark.parametrize('family', FAMILIES)
def test_warm_start_computes_the_resnets_function_exactly_in_float64(family, resnet50, resnet50_files):
    cls, kwargs = FAMILIES[family]
    model = warm_started(cls, resnet50_files['mmdet backbone'], torch.float64, depth=50, **kwargs)
    x = torch.rand(2, 3, 67, 53, dtype=torch.float64)
    reference = outputs(copy.deepcopy(resnet50).double(), x)
    for ours, theirs in zip(outputs(model, x), reference):
        assert torch.equal(ours, theirs)
    # The report says what came from where.
    (report,) = model.checkpoint_reports
    assert isinstance(report, LoadReport) and report.kind == 'ResNetWarmStart'
    assert len(report.loaded) == len(resnet50.state_dict())  # the whole trunk, num_batches_tracked included
    assert report.unused == []


@pytest.mark.parametrize(
    'layout', ['torchvision', 'mmdet backbone', 'mmpretrain classifier', 'mmdet detector', 'DDP (module.)']
)
def test_warm_start_reads_every_layout(layout, resnet50, resnet50_files):
    model = warm_started(RLAResNet, resnet50_files[layout], depth=50)
    x = torch.rand(1, 3, 64, 64)
    for ours, theirs in zip(outputs(model, x), outputs(resnet50, x)):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    (report,) = model.checkpoint_reports
    assert set(report.fresh) == {'conv_out', 'recurrent_conv', 'norms'}
    expected_unused = {
        'torchvision': {'fc.weight', 'fc.bias'},
        'mmpretrain classifier': {'head.fc.weight', 'head.fc.bias'},
        'mmdet detector': {'neck.lateral_convs.0.conv.weight'},
    }.get(layout, set())
    assert set(report.unused) == expected_unused
    assert {
        'torchvision': 'top level',
        'mmpretrain classifier': 'mmpretrain classifier',
        'mmdet detector': 'mmdet detector',
    }.get(layout, 'top level') in report.layout
    assert 'a ResNet-50 (bottleneck blocks 3-4-6-3)' in report.layout
    # Every block's first conv: the ResNet's weight on the x-columns, zeros on the 32 h-columns.
    for name in model.res_layers:
        for index, block in enumerate(model.blocks_of(name)):
            weight = block.conv1.weight
            assert torch.equal(weight[:, :-32], resnet50.state_dict()[f'{name}.{index}.conv1.weight'])
            assert not weight[:, -32:].any()


def test_warm_start_of_resnext_families(tmp_path):
    resnext = randomise(ResNeXt(depth=50, groups=32, base_width=4))
    path = str(tmp_path / 'resnext50.pth')
    torch.save({'state_dict': resnext.state_dict()}, path)
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    reference = outputs(resnext.double(), x)
    for cls in (RLAResNeXt, RoRResNeXt):
        kwargs = dict(represent_ratio=0.0) if cls is RoRResNeXt else {}
        model = warm_started(cls, path, torch.float64, depth=50, groups=32, base_width=4, **kwargs)
        for ours, theirs in zip(outputs(model, x), reference):
            assert torch.equal(ours, theirs)
        assert 'a ResNeXt-50 (32 groups, bottleneck blocks 3-4-6-3)' in model.checkpoint_reports[0].layout


def test_ror_and_attention_say_where_the_function_differs(resnet50, resnet50_files):
    ror = warm_started(RoRResNet, resnet50_files['torchvision'], depth=50)
    (report,) = ror.checkpoint_reports
    assert report.fresh.keys() == {'refine_mask'}  # RoR adds no parameter: only the seeded masks
    assert any('Represent' in note and 'differs from the ResNet by design' in note for note in report.notes)
    x = torch.rand(1, 3, 64, 64)
    assert not torch.allclose(outputs(ror, x)[-1], outputs(resnet50, x)[-1])
    eca = warm_started(RLAResNet, resnet50_files['torchvision'], depth=50, channel_attention='eca')
    assert any('16 blocks have channel attention' in note for note in eca.checkpoint_reports[0].notes)


@pytest.mark.parametrize('family', ['RLAResNet', 'RNNRegNet-lstm'])
def test_one_step_moves_the_state_readers_the_next_moves_the_new_parts(family, resnet50_files):
    """Mechanism of the warm start's training: the zero columns that read the state get gradients at the first
    step (the state is not zero); the parts that compute the state get exactly zero gradients then (nothing reads
    the state yet) and move at the second step. Frozen BN statistics, as the detection configs train."""
    cls, kwargs = FAMILIES[family]
    model = warm_started(cls, resnet50_files['torchvision'], depth=50, norm_eval=True, **kwargs).train()
    if cls is RLAResNet:
        readers = [block.conv1.weight for name in model.res_layers for block in model.blocks_of(name)][1:]
        columns = (slice(None), slice(-32, None))
        writers = [model.layer2.conv_out.weight, model.layer2.recurrent_conv.weight]
    else:
        readers = [block.fusion_conv.weight for name in model.res_layers for block in model.blocks_of(name)]
        columns = None  # the second half of the input columns
        writers = [p for p in model.layer2.cells.parameters()] + [model.layer2.transitions[0].weight]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64, generator=generator)
    targets = [torch.randn(o.shape, generator=generator) for o in outputs(model, x)]

    def step():
        optimizer.zero_grad()
        loss = sum(((o - t) ** 2).mean() for o, t in zip(model(x), targets))
        loss.backward()
        optimizer.step()

    def state_columns(weight):
        return weight[columns] if columns else weight[:, weight.shape[1] // 2 :]

    writers_before = [w.detach().clone() for w in writers]
    step()
    assert all(state_columns(w).abs().sum() > 0 for w in readers)
    assert all(torch.equal(w, before) for w, before in zip(writers, writers_before))
    step()
    assert all(not torch.equal(w, before) for w, before in zip(writers, writers_before))


def test_frozen_stages_can_leave_the_new_parts_training(resnet50_files):
    model = RLAResNet(depth=50, frozen_stages=1, freeze_added_parts=False, norm_eval=False)
    model.train()
    assert not any(p.requires_grad for block in model.layer1.blocks for p in block.parameters())
    assert all(p.requires_grad for p in model.layer1.conv_out.parameters())
    assert model.layer1.norms[0].training and not model.layer1.blocks[0].bn1.training
    whole = RLAResNet(depth=50, frozen_stages=1, norm_eval=False)  # mmdet's rule: the frozen stage whole
    whole.train()
    assert not any(p.requires_grad for p in whole.layer1.parameters()) and not whole.layer1.norms[0].training
    with pytest.raises(ValueError, match=r'freeze_added_parts must be one of \[True, False\], got 1'):
        RLAResNet(depth=50, freeze_added_parts=1)


def test_identity_norm_is_exact_in_every_dtype():
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        var = torch.tensor(identity_variance(1e-5, dtype), dtype=dtype)
        assert var + torch.tensor(1e-5, dtype=dtype) == 1


def test_the_registered_initializer_starts_mmdets_own_resnet(resnet50, resnet50_files):
    """Registered in mmengine's WEIGHT_INITIALIZERS: any config can use it, mmdet's ResNet included."""
    plain = ResNet(50)
    initialize(plain, dict(type='ResNetWarmStart', checkpoint=resnet50_files['mmpretrain classifier']))
    for key, value in resnet50.state_dict().items():
        assert torch.equal(plain.state_dict()[key], value)


def test_regnet_without_regulators_takes_a_resnet_checkpoint_strictly(resnet50, resnet50_files):
    plain = RNNRegNet(
        depth=50, regulator_stages=(), init_cfg=dict(type='Pretrained', checkpoint=resnet50_files['torchvision'])
    )
    plain.init_weights()
    (report,) = plain.checkpoint_reports
    assert len(report.loaded) == len(resnet50.state_dict()) and report.unused == ['fc.weight', 'fc.bias']


# ------------------------------------------------------------------ loud partial loads
def init_log(model) -> list:
    """What mmengine's logger printed at INFO and above while ``model.init_weights()`` ran."""
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)  # whatever an earlier test of the session left it at
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)
    return [r for r in records if 'load' in r.lower() or 'checkpoint' in r.lower()]


def test_a_load_reports_in_one_line(resnet50_files):
    lines = init_log(
        RLAResNet(depth=50, init_cfg=dict(type='ResNetWarmStart', checkpoint=resnet50_files['torchvision']))
    )
    assert len(lines) == 1
    assert lines[0].startswith("ResNetWarmStart: RLAResNet-50 from '") and '318 tensors from the checkpoint' in lines[0]
    assert '83 initialised fresh (conv_out, norms, recurrent_conv)' in lines[0]
    assert '2 of the file unused (e.g. fc.weight, fc.bias)' in lines[0]


def test_pretrained_that_leaves_the_trunk_fresh_stops_in_one_line(resnet50_files, tmp_path):
    with pytest.raises(ValueError) as error:
        RLAResNet(depth=50, init_cfg=dict(type='Pretrained', checkpoint=resnet50_files['torchvision'])).init_weights()
    message = str(error.value)
    assert '\n' not in message
    assert 'fits 6 of the 401 tensors of this RLAResNet-50' in message
    assert 'layer1, layer2, layer3, layer4 got none' in message
    assert 'a ResNet-50 (bottleneck blocks 3-4-6-3) at the top level' in message
    assert "use init_cfg=dict(type='ResNetWarmStart', checkpoint=...)" in message
    # A classifier's checkpoint without prefix: say so.
    source = RLAResNet(depth=50)
    path = str(tmp_path / 'classifier.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in source.state_dict().items()}}, path)
    with pytest.raises(ValueError, match=r"fits 0 of the 401 .* add prefix='backbone.'"):
        RLAResNet(depth=50, init_cfg=dict(type='Pretrained', checkpoint=path)).init_weights()
    # With the prefix it loads whole, and says so.
    whole = RLAResNet(depth=50, init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'))
    whole.init_weights()
    (report,) = whole.checkpoint_reports
    assert len(report.loaded) == 401 and not report.fresh and not report.unused


def test_warm_start_refuses_what_is_not_its_resnet(resnet50_files, tmp_path):
    deeper = str(tmp_path / 'resnet101.pth')
    torch.save(ResNet(101).state_dict(), deeper)
    with pytest.raises(
        ValueError,
        match=r'holds a ResNet-101 \(bottleneck blocks 3-4-23-3\) at the top level .*'
        r'does not fit this RLAResNet-50 \(blocks 3-4-6-3\)',
    ):
        warm_started(RLAResNet, deeper, depth=50)
    family = str(tmp_path / 'rla.pth')
    torch.save(RLAResNet(depth=18).state_dict(), family)
    with pytest.raises(
        ValueError,
        match=r"holds no ResNet stem and blocks .* one of this package's stateful "
        r'families \(layer1.blocks',
    ):
        warm_started(RNNRegNet, family, depth=18)
    authors = str(tmp_path / 'authors.pth')
    torch.save(
        {
            'conv1.weight': torch.zeros(1),
            'stages.0.0.conv1.weight': torch.zeros(1),
            'conv_outs.0.weight': torch.zeros(1),
        },
        authors,
    )
    with pytest.raises(
        ValueError,
        match=r"the RLA-Net authors' layout \(convert it with "
        r'tools/model_converters/rlanet2mmdet.py\)',
    ):
        warm_started(RLAResNet, authors, depth=50)
    narrow = str(tmp_path / 'narrow.pth')
    torch.save(ResNet(50, base_channels=32).state_dict(), narrow)
    with pytest.raises(
        ValueError,
        match=r"conv1.weight has shape \(32, 3, 7, 7\), the model's conv1.weight "
        r'\(64, 3, 7, 7\)',
    ):
        warm_started(RLAResNet, narrow, depth=50)
    with pytest.raises(
        ValueError,
        match=r"init_cfg 'ResNetWarmStart' takes \['checkpoint', 'prefix', "
        r"'map_location'\] \(checkpoint required\), got \['chekpoint'\]",
    ):
        RoRResNet(depth=18, init_cfg=dict(type='ResNetWarmStart', chekpoint='x')).init_weights()
