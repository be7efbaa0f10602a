"""The RLA-Net checkpoint converter: official layout <-> RLAResNet / ImageClassifier, and safe loading.

No code of the authors is used: a checkpoint in their key layout is built from our own model with
the inverse mapping (random weights and random BN statistics), wrapped the way their training
script saves it, converted back and compared key by key, value by value and output by output.
"""

import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from conftest import COUNTS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.utils import register_all_modules

from mmdet_rla.converters import rlanet_resnet
from mmdet_rla.converters.rlanet import (
    UnsafeCheckpointError,
    convert_rlanet_checkpoint,
    extract_state_dict,
    load_weights_only,
    mmdet_to_official,
    official_to_mmdet,
)
from mmdet_rla.registry import build_model

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLI = osp.join(REPO, 'tools', 'model_converters', 'rlanet2mmdet.py')
register_all_modules(init_default_scope=False)


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Single-threaded torch in this module (a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def classifier_cfg(channel_attention=None) -> dict:
    """The RLA-ResNet-50 ImageClassifier the authors' code defines (fc: 2048 + 32 -> 1000)."""
    backbone = dict(type='RLAResNet', depth=50, rla_input='output', with_rla_output=True, out_indices=(3,))
    if channel_attention == 'eca':
        backbone.update(channel_attention='eca', eca_kernel_sizes=(5, 5, 5, 7))
    return dict(
        type='ImageClassifier',
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=2080),
    )


def randomise(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights and random BN statistics (so a mixed-up norm would show), eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith('num_batches_tracked'):
                tensor.fill_(int(torch.randint(1, 1000, (1,), generator=generator)))
            elif name.endswith('running_var'):
                tensor.uniform_(0.5, 2.0, generator=generator)
            elif name.endswith('weight') and tensor.dim() == 1:  # norm scales: keep activations tame
                tensor.uniform_(0.1, 0.4, generator=generator)
            else:
                tensor.normal_(0, 0.05, generator=generator)
    return model.eval()


@pytest.fixture(scope='module', params=[None, 'eca'], ids=['rla', 'rla-eca'])
def ours(request):
    """Our classifier with random weights, and its parameter count."""
    model = randomise(MMPRETRAIN_MODELS.build(classifier_cfg(request.param)), seed=1)
    return request.param, model


def save_official(model: torch.nn.Module, path: str, module_prefix: bool) -> dict:
    """Write ``model`` the way the authors' train.py saves: {'epoch', 'state_dict', 'best_acc1', 'optimizer'}."""
    official = mmdet_to_official(model.state_dict(), module_prefix=module_prefix)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(3))], lr=0.1, momentum=0.9, weight_decay=1e-4)
    torch.save(
        {'epoch': 120, 'state_dict': official, 'best_acc1': torch.tensor(77.17), 'optimizer': optimizer.state_dict()},
        path,
    )
    return official


def test_inverse_mapping_gives_the_official_layout(ours):
    attention, model = ours
    official = mmdet_to_official(model.state_dict())
    keys = set(official)
    # Names of the authors' RLA_ResNet (models/resnet_rla.py).
    expected_present = {
        'conv1.weight',
        'bn1.running_var',
        'conv_outs.0.weight',
        'conv_outs.3.weight',
        'recurrent_convs.2.weight',
        'stages.0.0.conv1.weight',
        'stages.1.0.downsample.0.weight',
        'stages.1.0.downsample.1.running_mean',
        'stages.2.5.bn3.weight',
        'stages.3.2.conv3.weight',
        'stage_bns.0.0.weight',
        'stage_bns.3.2.running_var',
        'bn2.weight',
        'fc.weight',
        'fc.bias',
    }
    assert expected_present <= keys
    assert ('stages.0.0.eca.conv.weight' in keys) == (attention == 'eca')
    assert not any(k.startswith(('layer', 'backbone', 'head')) for k in keys)
    assert official['stages.0.0.conv1.weight'].shape == (64, 64 + 32, 1, 1)  # concat(x, h)
    assert official['fc.weight'].shape == (1000, 2048 + 32)
    # The authors' counts, which ours equal: 25,870,696 (RLA-ResNet-50) and 25,870,782 (RLA-ECA-ResNet-50).
    n_params = sum(
        v.numel() for k, v in official.items() if not k.endswith(('running_mean', 'running_var', 'num_batches_tracked'))
    )
    assert n_params == COUNTS['rla_resnet50_eca' if attention == 'eca' else 'rla_resnet50']['params_with_fc']


@pytest.mark.parametrize('module_prefix', [False, True], ids=['plain', 'module.'])
def test_classifier_round_trip(ours, module_prefix, tmp_path):
    attention, model = ours
    src, dst = str(tmp_path / 'official.pth.tar'), str(tmp_path / 'checkpoints' / 'cls.pth')  # a folder to create
    save_official(model, src, module_prefix)
    meta = convert_rlanet_checkpoint(src, dst, classifier=True)

    converted = torch.load(dst, weights_only=True)
    expected = model.state_dict()
    assert list(converted['state_dict']) == list(expected)
    for key, value in expected.items():
        assert torch.equal(converted['state_dict'][key], value), key
    assert meta['dropped_keys'] == []
    assert meta['model']['backbone']['rla_input'] == 'output'
    assert meta['arch'] == ('rla_resnet50_eca' if attention == 'eca' else 'rla_resnet50')

    # A classifier built from the recorded config reproduces our model's outputs.
    rebuilt = MMPRETRAIN_MODELS.build(meta['model'])
    rebuilt.load_state_dict(converted['state_dict'], strict=True)
    rebuilt.eval()
    images = torch.rand(2, 3, 64, 80, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(rebuilt(images, mode='tensor'), model(images, mode='tensor'))


@pytest.mark.parametrize('module_prefix', [False, True], ids=['plain', 'module.'])
def test_detection_backbone_round_trip(ours, module_prefix, tmp_path):
    attention, model = ours
    src, dst = str(tmp_path / 'official.pth.tar'), str(tmp_path / 'backbone.pth')
    save_official(model, src, module_prefix)
    meta = convert_rlanet_checkpoint(src, dst)

    # The detection backbone has no last-update norm, no output norm and no fc: exactly those go.
    assert sorted(meta['dropped_keys']) == sorted(
        [f'stage_bns.3.2.{p}' for p in ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')]
        + [f'bn2.{p}' for p in ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')]
        + ['fc.weight', 'fc.bias']
    )
    assert meta['backbone']['rla_input'] == 'output' and "rla_input='output'" in meta['note']

    # Loaded the way a detector config does it: init_cfg=dict(type='Pretrained', checkpoint=...).
    detector_backbone = build_model(dict(meta['backbone'], init_cfg=dict(type='Pretrained', checkpoint=dst)))
    detector_backbone.init_weights()
    detector_backbone.eval()
    reference = model.backbone.state_dict()
    loaded = detector_backbone.state_dict()
    assert set(loaded) == set(reference) - {
        k for k in reference if k.startswith(('layer4.norms.2.', 'layer4.output_norm.'))
    }
    for key, value in loaded.items():
        assert torch.equal(value, reference[key]), key

    # Same stage outputs as our classifier's backbone (whose last stage also appends ReLU(BN(h))).
    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        detector_outs = detector_backbone(images)
        model.backbone.out_indices = (0, 1, 2, 3)
        try:
            classifier_outs = model.backbone(images)
        finally:
            model.backbone.out_indices = (3,)
    for detector_out, classifier_out in zip(detector_outs, classifier_outs):
        assert torch.equal(detector_out, classifier_out[:, : detector_out.shape[1]])
    assert classifier_outs[3].shape[1] == 2048 + 32


def test_extract_state_dict_accepts_the_usual_wrappers():
    state = {'conv1.weight': torch.zeros(1)}
    assert list(extract_state_dict({'state_dict': {'module.conv1.weight': torch.zeros(1)}})) == ['conv1.weight']
    assert list(extract_state_dict(state)) == ['conv1.weight']
    with pytest.raises(ValueError, match='no state dict of tensors'):
        extract_state_dict({'epoch': 3, 'best_acc1': 1.0})


def test_rejects_what_is_not_an_rla_resnet():
    from mmdet.models.backbones import ResNet

    with pytest.raises(ValueError, match="fits no factory of the RLA-Net authors' code .looked for"):
        official_to_mmdet(ResNet(depth=50).state_dict())
    official = mmdet_to_official(build_model(dict(type='RLAResNet', depth=50)).state_dict())
    official['stages.0.0.mystery.weight'] = torch.zeros(1)
    with pytest.raises(
        ValueError,
        match=r'closest factory, rla_resnet50, differs by 1 unexpected keys '
        r"\['stages.0.0.mystery.weight'\]",
    ):
        official_to_mmdet(official)
    with pytest.raises(ValueError, match=r'keys match no part of RLAResNet \(rla_resnet50\)'):
        rlanet_resnet.to_ours(official, 'rla_resnet50', classifier=False)
    with pytest.raises(ValueError, match='--cls needs'):
        official_to_mmdet(
            mmdet_to_official(build_model(dict(type='RLAResNet', depth=50)).state_dict()), classifier=True
        )


class _Payload:
    """An object whose unpickling would run a shell command (the classic malicious checkpoint)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


class _CustomState:
    """A harmless custom class: still not something weights_only may construct."""

    def __init__(self) -> None:
        self.value = 1


@pytest.mark.parametrize('kind', ['os.system', 'custom class'])
def test_unsafe_pickles_are_refused_without_running_them(kind, tmp_path):
    marker = tmp_path / 'executed'
    path = str(tmp_path / 'evil.pth.tar')
    payload = _Payload(str(marker)) if kind == 'os.system' else _CustomState()
    torch.save({'epoch': 1, 'state_dict': {'conv1.weight': torch.zeros(1)}, 'extra': payload}, path)
    with pytest.raises(UnsafeCheckpointError, match='weights_only=True') as info:
        load_weights_only(path)
    assert 'arbitrary code' in str(info.value)
    assert isinstance(info.value, ValueError)
    with pytest.raises(UnsafeCheckpointError):
        convert_rlanet_checkpoint(path, str(tmp_path / 'out.pth'))
    assert not marker.exists()
    assert not (tmp_path / 'out.pth').exists()
    # The file really carries the payload (read from the pickle's opcodes, without running it).
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    assert (
        any(name.endswith('.system') for name in unsafe)
        if kind == 'os.system'
        else any(name.endswith('_CustomState') for name in unsafe)
    )


def test_cli_converts_and_refuses(tmp_path, subprocess_env):
    model = randomise(build_model(dict(type='RLAResNet', depth=50, rla_input='output')), seed=2)
    src = str(tmp_path / 'official.pth.tar')
    torch.save(
        {
            'epoch': 1,
            'state_dict': mmdet_to_official(model.state_dict(), module_prefix=True),
            'best_acc1': torch.tensor(1.0),
            'optimizer': {'state': {}, 'param_groups': []},
        },
        src,
    )
    dst = str(tmp_path / 'backbone.pth')
    done = subprocess.run(
        [sys.executable, CLI, src, dst], capture_output=True, text=True, env=subprocess_env, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "rla_input='output'" in done.stdout and '"type": "RLAResNet"' in done.stdout
    converted = torch.load(dst, weights_only=True)['state_dict']
    # This backbone had no last update to begin with: nothing was dropped, everything round-trips.
    assert set(converted) == set(model.state_dict())
    assert all(torch.equal(converted[k], v) for k, v in model.state_dict().items())

    marker = tmp_path / 'executed'
    evil = str(tmp_path / 'evil.pth.tar')
    torch.save({'state_dict': {'conv1.weight': torch.zeros(1)}, 'x': _Payload(str(marker))}, evil)
    done = subprocess.run(
        [sys.executable, CLI, evil, str(tmp_path / 'out.pth')],
        capture_output=True,
        text=True,
        env=subprocess_env,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 1
    assert 'Refusing to load' in done.stderr and 'arbitrary code' in done.stderr
    assert not marker.exists()
