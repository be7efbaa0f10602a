"""The converter over the authors' whole ResNet-family release: every factory, the dispatcher, the ConvLSTM /
ConvGRU weight rearrangement, and their twelve mmdet 2.x detectors.

No code of the authors is used: official layouts come from our own models through the inverse mapping, and the
cells are checked against the authors' equations written out here.
"""

import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
import yaml
from conftest import COUNTS
from mmengine.analysis import FlopAnalyzer
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.utils import register_all_modules

from mmdet_rla.converters import rlanet_detector, rlanet_resnet
from mmdet_rla.converters.rlanet import (
    convert_rlanet_checkpoint,
    convert_state_dict,
    factory_names,
    mmdet_to_official,
    resolve_arch,
)
from mmdet_rla.models.layers.conv_rnn import ConvGRUCell, ConvLSTMCell
from mmdet_rla.registry import build_model
from mmdet_rla.testing import build_detector_from_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLI = osp.join(REPO, 'tools', 'model_converters', 'rlanet2mmdet.py')
register_all_modules(init_default_scope=False)

# Parameters with the fc layer, counted on the authors' models (models/resnet_rla*.py; issue 9's facts table).
AUTHORS_PARAMS = {
    'rla_resnet50': 25_870_696,
    'rla_resnet50_eca': 25_870_782,
    'rla_resnet101': 45_003_176,
    'rla_resnet101_eca': 45_003_347,
    'rla_resnet152': 60_770_792,
    'rla_resnet152_eca': 60_771_048,
    'rla_resnext50_32x4d': 25_463_400,
    'rla_resnext50_32x4d_se': 27_978_344,
    'rla_resnext50_32x4d_eca': 25_463_486,
    'rla_resnext101_32x4d': 44_891_816,
    'rla_resnext101_32x4d_se': 49_634_984,
    'rla_resnext101_32x4d_eca': 44_891_987,
    'rlav1_resnet50': 25_870_696,
    'rlav1_resnet50_eca': 25_870_782,
    'rlaus_resnet50': 26_341_736,
    'rlaus_resnet101': 46_187_944,
    'rlarh_resnet50': 25_749_864,
    'rlalstm_resnet50': 26_128_680,
    'rlagru_resnet50': 26_056_104,
    'rlagru_resnet50_eca': 26_056_190,
    'rlagru_resnet101': 45_188_584,
    'rlagru_resnet101_eca': 45_188_755,
    'rlav1p_resnet50': 25_870_632,
    **{f'rlav{v}_resnet50': 25_870_696 for v in range(2, 7)},
}
# Factories whose key layout is that of a released (preferred) one: inferred as that one, --arch picks them.
SAME_LAYOUT = {
    'rlav1_resnet50_eca': 'rla_resnet50_eca',
    **{f'rlav{v}_resnet50': 'rla_resnet50' for v in (1, 2, 3, 4, 5, 6)},
}
STATS = ('running_mean', 'running_var', 'num_batches_tracked')


pytestmark = pytest.mark.usefixtures('one_torch_thread')


def randomise(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights and BN statistics (so a swapped tensor shows), eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith('num_batches_tracked'):
                tensor.fill_(7)
            elif name.endswith('running_var'):
                tensor.uniform_(0.5, 2.0, generator=generator)
            elif name.endswith('weight') and tensor.dim() == 1:
                tensor.uniform_(0.2, 0.5, generator=generator)
            else:
                tensor.normal_(0, 0.05, generator=generator)
    return model.eval()


def official_layout(arch: str, classifier: bool = True) -> dict:
    """The authors' keys and shapes of ``arch`` as meta tensors (no memory)."""
    return {k: torch.empty(s, device='meta') for k, s in rlanet_resnet._official_shapes(arch, classifier).items()}


def test_factory_names_are_the_authors():
    assert set(rlanet_resnet.FACTORIES) == set(AUTHORS_PARAMS)
    assert set(rlanet_resnet.FACTORIES) <= set(factory_names())


@pytest.mark.parametrize('arch', sorted(AUTHORS_PARAMS))
def test_every_factory_has_the_authors_parameters_and_is_recognised(arch):
    official = official_layout(arch)
    assert sum(v.numel() for k, v in official.items() if not k.endswith(STATS)) == AUTHORS_PARAMS[arch]
    expected = SAME_LAYOUT.get(arch, arch)
    chosen, others = resolve_arch(official)
    assert chosen == expected and (arch in others) == (arch != expected)
    assert resolve_arch(official, arch)[0] == arch
    # Their mmdet-style backbone layout (no bn2 / fc) is recognised too.
    backbone = {k: v for k, v in official.items() if not k.startswith(('fc.', 'bn2.'))}
    assert arch in [resolve_arch(backbone)[0]] + resolve_arch(backbone)[1]


def test_connection_variants_as_the_authors_code_runs():
    """Figure 4: v2/v4/v6 add after the recurrent unit, v5/v6 add the block input; and through the authors'
    in-place alias (y is the block output) v3 computes the proposed module and v4 computes v2."""
    names = ['rla_resnet50'] + [f'rlav{v}_resnet50' for v in range(2, 7)]
    design = {n: rlanet_resnet.model_config(n, classifier=False) for n in names}
    assert design['rlav3_resnet50'] == design['rla_resnet50'] and design['rlav4_resnet50'] == design['rlav2_resnet50']
    assert len({tuple(sorted(d.items())) for d in design.values()}) == 4
    for name in names:
        after = design[name].get('rla_integration') == 'after_recurrence'
        assert after == (name in ('rlav2_resnet50', 'rlav4_resnet50', 'rlav6_resnet50'))
        assert (design[name]['rla_input'] == 'identity') == (name in ('rlav5_resnet50', 'rlav6_resnet50'))


@pytest.mark.parametrize(
    'arch,gmacs,entry',
    [('rlalstm_resnet50', 5.3725, 'rlalstm_resnet50'), ('rla_resnext50_32x4d', 4.6868, 'rla-resnext50-32x4d')],
)
def test_flops_equal_the_authors(arch, gmacs, entry):
    """Multiply-adds at 224x224 with the fc layer, counted as fvcore counts the authors' models (``gmacs``, measured
    on their code), and exactly tests/counts.yaml's count of the same classifier."""

    class Logits(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x, mode='tensor')

    model = MMPRETRAIN_MODELS.build(rlanet_resnet.model_config(arch, classifier=True)).eval()
    analyzer = FlopAnalyzer(Logits(model), torch.zeros(1, 3, 224, 224))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    assert round(analyzer.total() / 1e9, 4) == gmacs
    assert analyzer.total() == COUNTS[entry]['macs_with_fc']


R50_FACTORIES = sorted(
    a
    for a, f in rlanet_resnet.FACTORIES.items()
    if f['backbone']['depth'] == 50 and a not in ('rla_resnet50', 'rla_resnet50_eca')
)


@pytest.mark.parametrize('arch', R50_FACTORIES)
def test_converted_official_classifier_gives_our_logits(arch):
    model = randomise(MMPRETRAIN_MODELS.build(rlanet_resnet.model_config(arch, classifier=True)), seed=len(arch))
    official = rlanet_resnet.to_official(model.state_dict(), arch)
    assert not any(k.startswith(('backbone.', 'head.', 'layer')) for k in official)
    converted, dropped, chosen, config, _ = convert_state_dict(
        official, classifier=True, arch=arch if arch in SAME_LAYOUT else None
    )
    assert chosen == arch and dropped == []
    rebuilt = MMPRETRAIN_MODELS.build(config)
    rebuilt.load_state_dict(converted, strict=True)
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(images, mode='tensor'), model(images, mode='tensor'))


@pytest.mark.parametrize(
    'arch,dropped',
    [
        (
            'rlaus_resnet50',
            ['stages.3.2.conv_out.weight', 'stages.3.2.recurrent_conv.weight', 'stages.3.2.bn_rla.', 'bn2.'],
        ),
        ('rlalstm_resnet50', ['stage_bns.3.2.']),
        ('rla_resnext50_32x4d_se', ['stage_bns.3.2.', 'bn2.']),
    ],
)
def test_detection_backbone_drops_what_nothing_reads(arch, dropped):
    classifier = randomise(MMPRETRAIN_MODELS.build(rlanet_resnet.model_config(arch, classifier=True)), seed=3)
    official = rlanet_resnet.to_official(classifier.state_dict(), arch)
    converted, got_dropped = rlanet_resnet.to_ours(official, arch, classifier=False)
    assert all(any(k.startswith(p) for p in dropped + ['fc.']) for k in got_dropped)
    assert all(any(k.startswith(p) for k in got_dropped) for p in dropped + ['fc.'])
    backbone = build_model(rlanet_resnet.model_config(arch, classifier=False))
    backbone.load_state_dict(converted, strict=True)
    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        classifier.backbone.out_indices = (0, 1, 2, 3)
        ours, reference = backbone.eval()(images), classifier.backbone(images)
    for out, ref in zip(ours, reference):
        assert torch.equal(out, ref[:, : out.shape[1]])


def test_shared_layouts_need_arch_without_a_preferred_factory(monkeypatch):
    official = official_layout('rlav2_resnet50')
    monkeypatch.setitem(rlanet_resnet.FACTORIES['rla_resnet50'], 'preferred', False)
    with pytest.raises(
        ValueError,
        match=r"fits several of the authors' factories: \[.*'rlav2_resnet50'.*\]. "
        r'They share one key layout \(e.g. the Table 6 ablations v2-v6\).*pass --arch NAME',
    ):
        resolve_arch(official)


def test_bad_arch_names_the_allowed_ones_and_misfits_are_refused():
    official = official_layout('rla_resnet50')
    with pytest.raises(ValueError, match=r"--arch must be one of \[.*'rlav6_resnet50'.*\], got 'rla_resnet99'"):
        resolve_arch(official, 'rla_resnet99')
    with pytest.raises(ValueError, match=r"--arch rlalstm_resnet50 does not fit .*'rla_resnet50'"):
        resolve_arch(official, 'rlalstm_resnet50')
    with pytest.raises(ValueError, match='--cls needs the classifier parts'):
        rlanet_resnet.to_ours(official_layout('rlagru_resnet50', classifier=False), 'rlagru_resnet50', classifier=True)


# ----------------------------------------------------------------- the cells, by the authors' equations
def _cell_tensors(cell: torch.nn.Module, arch: str) -> dict:
    """The authors' tensors of our cell (as stage 0's recurrent unit of ``arch``)."""
    ours = {f'layer1.recurrent_cell.{k}': v for k, v in cell.state_dict().items()}
    return {k.split('.', 2)[2]: v for k, v in rlanet_resnet.to_official(ours, arch).items()}


def test_gru_cell_computes_the_authors_convgru():
    """Theirs: r, u = sigmoid(GN(conv_g([x, h]))); h' = u h + (1 - u) tanh(GN(conv_o([x, r h])))."""
    torch.manual_seed(0)
    cell = ConvGRUCell(4, 4, conv_type='conv3x3', bias=True, norm_cfg=dict(type='GN', num_groups=1, eps=1e-6))
    for p in cell.parameters():
        torch.nn.init.normal_(p, 0, 0.5)
    t = _cell_tensors(cell, 'rlagru_resnet50')
    x, h = torch.randn(2, 4, 6, 7), torch.randn(2, 4, 6, 7)

    def gn(v, name):
        return F.group_norm(v, 1, t[f'{name}.weight'], t[f'{name}.bias'], eps=1e-6)

    r, u = F.conv2d(torch.cat([x, h], 1), t['gate_conv.weight'], t['gate_conv.bias'], padding=1).split(4, 1)
    r, u = torch.sigmoid(gn(r, 'reset_gate_norm')), torch.sigmoid(gn(u, 'update_gate_norm'))
    y = torch.tanh(
        gn(F.conv2d(torch.cat([x, r * h], 1), t['output_conv.weight'], t['output_conv.bias'], padding=1), 'output_norm')
    )
    with torch.no_grad():
        (ours,) = cell(x, (h,))
    torch.testing.assert_close(ours, u * h + (1 - u) * y)


def test_lstm_cell_computes_the_authors_convlstm():
    """Theirs: i, f, o, g = split(conv([x, h])); c' = s(f) c + s(i) tanh(g); h' = s(o) tanh(c')."""
    torch.manual_seed(0)
    cell = ConvLSTMCell(4, 4, conv_type='conv3x3', bias=False)
    t = _cell_tensors(cell, 'rlalstm_resnet50')
    x, h, c = torch.randn(2, 4, 6, 7), torch.randn(2, 4, 6, 7), torch.randn(2, 4, 6, 7)
    i, f, o, g = F.conv2d(torch.cat([x, h], 1), t['conv.weight'], padding=1).split(4, 1)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    with torch.no_grad():
        ours_h, ours_c = cell(x, (h, c))
    torch.testing.assert_close(ours_c, c_next)
    torch.testing.assert_close(ours_h, torch.sigmoid(o) * torch.tanh(c_next))


# ------------------------------------------------------------------------ the mmdet 2.x detectors
COCO_CLASSES = tuple(f'class{i}' for i in range(80))


def save_authors_detector(detector: torch.nn.Module, arch: str, path: str) -> dict:
    """Write ``detector`` as the authors' mmdet 2.x training saved it: their backbone names (and the norm of
    the last update, which their backbone has), mmdet's neck and head names, mmcv 1.x's meta."""
    state = detector.state_dict()
    backbone = mmdet_to_official({k[9:]: v for k, v in state.items() if k.startswith('backbone.')}, arch=arch)
    for param, value in (
        ('weight', torch.rand(32)),
        ('bias', torch.rand(32)),
        ('running_mean', torch.rand(32)),
        ('running_var', torch.rand(32) + 0.5),
        ('num_batches_tracked', torch.tensor(9)),
    ):
        backbone[f'stage_bns.3.2.{param}'] = value
    authors = {'backbone.' + k: v for k, v in backbone.items()}
    authors.update((k, v) for k, v in state.items() if not k.startswith('backbone.'))
    meta = dict(
        mmdet_version='2.18.0',
        mmcv_version='1.3.17',
        CLASSES=COCO_CLASSES,
        epoch=12,
        iter=87960,
        config="model = dict(type='FasterRCNN', backbone=dict(type='RLA_ResNet'))",
        time='Thu Sep 30',
    )
    torch.save(dict(meta=meta, state_dict=authors), path)
    return authors


@pytest.mark.parametrize(
    'config,arch',
    [
        ('faster-rcnn_rla-r50_fpn_1x_coco.py', 'rla_resnet50'),
        ('retinanet_rla-eca-r50_fpn_1x_coco.py', 'rla_resnet50_eca'),
        ('mask-rcnn_rla-r50_fpn_1x_coco.py', 'rla_resnet50'),
    ],
)
def test_mmdet2_detector_converts_and_loads_strictly(config, arch, tmp_path):
    from mmdet.testing import demo_mm_inputs

    path = osp.join(REPO, 'configs', 'rla', config)
    torch.manual_seed(0)
    detector = randomise(build_detector_from_config(path), seed=5)
    src, dst = str(tmp_path / 'authors.pth'), str(tmp_path / 'ours.pth')
    authors = save_authors_detector(detector, arch, src)
    assert {
        'neck.lateral_convs.0.conv.weight',
        'backbone.stages.3.2.conv3.weight',
        'backbone.conv_outs.0.weight',
    } <= set(authors)
    meta = convert_rlanet_checkpoint(src, dst)
    assert meta['arch'] == arch and meta['config'] == f'configs/rla/{config}'
    assert meta['detector'] == config.split('_')[0]
    assert sorted(meta['dropped_keys']) == sorted(
        f'backbone.stage_bns.3.2.{p}' for p in ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
    )
    assert meta['dataset_meta'] == dict(classes=list(COCO_CLASSES))
    assert meta['model']['backbone']['init_cfg'] is None

    converted = torch.load(dst, weights_only=True)
    fresh = build_detector_from_config(path)
    fresh.load_state_dict(converted['state_dict'], strict=True)
    fresh.eval()
    packed = demo_mm_inputs(batch_size=1, image_shapes=[(3, 96, 128)], num_items=[1])
    with torch.no_grad():
        data = detector.data_preprocessor(packed, False)
        ours = fresh(**data, mode='tensor')
        reference = detector(**data, mode='tensor')
    flat = [t for t in torch.utils._pytree.tree_leaves(ours) if isinstance(t, torch.Tensor)]
    flat_ref = [t for t in torch.utils._pytree.tree_leaves(reference) if isinstance(t, torch.Tensor)]
    assert len(flat) == len(flat_ref) > 0
    assert all(torch.equal(a, b) for a, b in zip(flat, flat_ref))


def test_detector_checkpoints_with_foreign_parts_or_cls_are_refused(tmp_path):
    state = {
        'backbone.conv1.weight': torch.zeros(1),
        'bbox_head.retina_cls.weight': torch.zeros(1),
        'semantic_head.conv.weight': torch.zeros(1),
    }
    with pytest.raises(ValueError, match=r"belong to no part of an mmdet retinanet .*'semantic_head.conv.weight'"):
        rlanet_detector.convert_detector(state)
    path = str(tmp_path / 'det.pth')
    torch.save({'state_dict': state}, path)
    with pytest.raises(ValueError, match='--cls converts ImageNet classifiers; this is a detector checkpoint'):
        convert_rlanet_checkpoint(path, str(tmp_path / 'out.pth'), classifier=True)
    with pytest.raises(ValueError, match='not one of Faster R-CNN, RetinaNet or Mask R-CNN'):
        rlanet_detector.detector_kind({'backbone.conv1.weight': torch.zeros(1), 'bbox_head.fcos_cls.weight': 0})


def test_released_detectors_are_documented():
    """The twelve released detectors: a config each, listed in the metafile and in docs/rla.md with their AP."""
    with open(osp.join(REPO, 'configs', 'rla', 'metafile.yml')) as file:
        models = {m['Config']: m for m in yaml.safe_load(file)['Models']}
    with open(osp.join(REPO, 'docs', 'rla.md')) as file:
        readme = file.read()
    assert len(rlanet_detector.RELEASED) == 12
    for name, (config, ap) in rlanet_detector.RELEASED.items():
        path = f'configs/rla/{config}'
        assert osp.isfile(osp.join(REPO, path))
        assert models[path]['Converted From']['Checkpoint'] == name
        assert f'rlanet2mmdet.py {name}.pth' in readme and f'tools/test.py {path}' in readme
        assert f'{ap["bbox"]}' in readme


def test_cli_arch_option(tmp_path, subprocess_env):
    model = randomise(MMPRETRAIN_MODELS.build(rlanet_resnet.model_config('rlav2_resnet50', classifier=True)), 4)
    src = str(tmp_path / 'v2.pth.tar')
    torch.save(
        {'epoch': 1, 'state_dict': mmdet_to_official(model.state_dict(), module_prefix=True, arch='rlav2_resnet50')},
        src,
    )
    dst = str(tmp_path / 'v2_cls.pth')
    done = subprocess.run(
        [sys.executable, CLI, src, dst, '--cls', '--arch', 'rlav2_resnet50'],
        capture_output=True,
        text=True,
        env=subprocess_env,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert 'rlav2_resnet50 as mmpretrain ImageClassifier' in done.stdout
    assert "same key layout fits ['rla_resnet50'," in done.stdout
    converted = torch.load(dst, weights_only=True)
    assert converted['meta']['model']['backbone']['rla_integration'] == 'after_recurrence'
    rebuilt = MMPRETRAIN_MODELS.build(converted['meta']['model'])
    rebuilt.load_state_dict(converted['state_dict'], strict=True)
    images = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(images, mode='tensor'), model(images, mode='tensor'))


def test_cli_refuses_an_unknown_arch(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location('rlanet2mmdet', CLI)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    src = str(tmp_path / 'rla.pth.tar')
    torch.save({'state_dict': mmdet_to_official(build_model(dict(type='RLAResNet', depth=50)).state_dict())}, src)
    assert tool.main([src, str(tmp_path / 'out.pth'), '--arch', 'rlav9_resnet50']) == 1
    err = capsys.readouterr().err
    assert err.startswith('rlanet2mmdet.py: error: ') and '--arch must be one of [' in err
    assert 'rlav6_resnet50' in err and "got 'rlav9_resnet50'" in err
    assert not (tmp_path / 'out.pth').exists()
