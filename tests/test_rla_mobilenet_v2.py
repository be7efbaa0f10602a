"""RLA-MobileNetV2: the authors' counts, their checkpoint layout (built from our inverse mapping, never from their
code), the shared recurrent conv, mmdet MobileNetV2's knobs, and the detection and classification configs."""

import glob
import os

import pytest
import torch
from mmdet.models.backbones import MobileNetV2
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.utils import register_all_modules
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet_rla.converters import rlanet_mobilenetv2 as converter
from mmdet_rla.models import RLAMobileNetV2
from mmdet_rla.registry import build_model
from mmdet_rla.testing import detector_smoke_test

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DET_CONFIGS = sorted(glob.glob(os.path.join(REPO, 'configs', 'rla_mobilenetv2', '*_coco.py')))
CLS_CONFIGS = sorted(glob.glob(os.path.join(REPO, 'configs', 'classification', 'rla', 'rla-*mobilenet-v2*.py')))
FC_1000 = 1280 * 1000 + 1000
CHANNELS = (16, 24, 32, 64, 96, 160, 320, 1280)  # the 8 output indices: layer1..layer7, conv2
register_all_modules(init_default_scope=False)


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Single-threaded torch in this module (a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def randomise(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights and BN statistics (so that a swapped tensor would show), eval mode."""
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
                tensor.normal_(0, 0.1, generator=generator)
    return model.eval()


# ------------------------------------------------------------------------- the authors' facts
@pytest.mark.parametrize(
    'kwargs,with_fc',
    [
        # The authors' factories, classifier included (measured on their code).
        (dict(), 3_624_168),  # dsrla_mobilenetv2_k32 (released)
        (dict(channel_attention='eca'), 3_624_199),  # dsrla_mobilenetv2_k32_eca (released)
        (dict(recurrent_conv='full'), 3_633_096),  # rla_mobilenetv2 (dense 3x3 recurrent conv)
        (dict(rla_channels=6), 3_527_240),  # dsrla_mobilenetv2_k6
        (dict(rla_channels=12), 3_549_608),  # dsrla_mobilenetv2_k12
        (dict(rla_channels=24), 3_594_344),  # dsrla_mobilenetv2_k24
    ],
)
def test_parameter_counts_match_the_authors(kwargs, with_fc):
    assert n_params(RLAMobileNetV2(**kwargs)) + FC_1000 == with_fc


class _Logits(torch.nn.Module):
    """An ImageClassifier as a plain module (image -> logits), for the FLOP counter."""

    def __init__(self, classifier: torch.nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(images, mode='tensor')


@pytest.mark.parametrize(
    'arch,authors_macs',
    [
        ('dsrla_mobilenetv2_k32', 368_838_016),  # fvcore on the authors' code: 0.3688 G
        ('dsrla_mobilenetv2_k32_eca', 369_414_016),  # 0.3694 G
    ],
)
def test_multiply_adds_match_the_authors_and_the_paper(arch, authors_macs):
    from mmengine.analysis.jit_handles import elementwise_flop_counter

    model = _Logits(MMPRETRAIN_MODELS.build(converter.model_config(arch, classifier=True))).eval()
    analyzer = FlopAnalyzer(model, (torch.rand(1, 3, 224, 224),))
    # Their ECA pools with AdaptiveAvgPool2d, which fvcore counts (one per input element); ours takes the same
    # mean with Tensor.mean, which it skips by default: count it the same way.
    analyzer.set_op_handle('aten::mean', elementwise_flop_counter(1, 0))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    with torch.no_grad():
        macs = analyzer.total()
    assert macs == authors_macs
    if arch == 'dsrla_mobilenetv2_k32':  # paper Table 3: 3.46M / 351.8M, i.e. in units of 2^20
        assert round(macs / 2**20, 1) == 351.8
        assert round(n_params(model) / 2**20, 2) == 3.46


# ----------------------------------------------------------------------- the authors' layout
@pytest.mark.parametrize(
    'arch', ['dsrla_mobilenetv2_k32', 'dsrla_mobilenetv2_k32_eca', 'rla_mobilenetv2_k32', 'dsrla_mobilenetv2_k6']
)
def test_official_checkpoint_converts_to_equal_logits(arch, tmp_path):
    ours = randomise(MMPRETRAIN_MODELS.build(converter.model_config(arch, classifier=True)), seed=1)
    official = converter.to_official(ours.state_dict(), arch)
    # The authors' names: their dsrla file calls the shared conv recurrent_dsconvs, their rla file recurrent_convs.
    recurrent = 'recurrent_dsconvs' if arch.startswith('dsrla') else 'recurrent_convs'
    assert {
        'conv1.0.weight',
        'stages.0.0.conv.0.0.weight',
        'stages.1.0.conv1x1.1.running_var',
        'stages.6.0.conv.2.bias',
        'conv_outs.6.weight',
        'stage_bns.5.2.weight',
        f'{recurrent}.4.weight',
        'conv2.0.weight',
        'bn2.weight',
        'classifier.1.weight',
    } <= set(official)
    assert ('stages.0.0.conv.3.conv.weight' in official) == arch.endswith('_eca')
    assert official['conv2.0.weight'].shape[1] == 320 + converter.FACTORIES[arch]['rla_channels']
    assert converter.candidate_archs(official) == [arch]

    converted, dropped = converter.to_ours(official, arch, classifier=True)
    assert dropped == []
    # Saved the way the converter tool writes it, read back with weights_only=True, built from its own meta.
    path = str(tmp_path / 'converted.pth')
    torch.save(
        dict(state_dict=converted, meta=dict(arch=arch, model=converter.model_config(arch, classifier=True))), path
    )
    saved = torch.load(path, weights_only=True)
    rebuilt = MMPRETRAIN_MODELS.build(saved['meta']['model']).eval()
    rebuilt.load_state_dict(saved['state_dict'], strict=True)
    images = torch.rand(2, 3, 64, 72, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = ours(images, mode='tensor')
        assert torch.equal(rebuilt(images, mode='tensor'), expected)
    assert expected.abs().max() > 0.1  # the comparison is not between near-zero logits

    # Detection: the bare backbone, everything but the fc; it also takes a DataParallel 'module.' prefix.
    prefixed = {'module.' + k: v for k, v in official.items()}
    backbone_sd, dropped = converter.to_ours(prefixed, arch, classifier=False)
    assert dropped == ['classifier.1.weight', 'classifier.1.bias']
    backbone = build_model(converter.model_config(arch, classifier=False)).eval()
    backbone.load_state_dict(backbone_sd, strict=True)
    with torch.no_grad():
        assert torch.equal(backbone(images)[-1], ours.backbone(images)[-1])


def test_every_factory_has_a_config_and_aliases_name_the_k32_nets():
    assert len(converter.FACTORIES) == 20
    for arch, facts in converter.FACTORIES.items():
        cfg = converter.model_config(arch, classifier=False)
        assert cfg['rla_channels'] == facts['rla_channels'] and cfg['recurrent_conv'] == facts['recurrent_conv']
    assert converter.FACTORIES['dsrla_mobilenetv2']['alias_of'] == 'dsrla_mobilenetv2_k32'
    assert converter.model_config('rla_mobilenetv2_eca', classifier=True) == converter.model_config(
        'rla_mobilenetv2_k32_eca', classifier=True
    )
    assert converter.model_config('dsrla_mobilenetv2_k32', classifier=True, num_classes=10)['head']['num_classes'] == 10


@pytest.mark.parametrize('alias', ['dsrla_mobilenetv2', 'rla_mobilenetv2_eca'])
def test_the_k32_aliases_convert_a_file_through_the_tool(alias, tmp_path):
    """``--arch dsrla_mobilenetv2`` (the authors' factory that builds the k32 net) names a file of that net."""
    from mmdet_rla.converters.rlanet import convert_rlanet_checkpoint, resolve_arch

    canonical = converter.FACTORIES[alias]['alias_of']
    ours = randomise(MMPRETRAIN_MODELS.build(converter.model_config(canonical, classifier=True)), seed=2)
    official = converter.to_official(ours.state_dict(), canonical)
    assert resolve_arch(official, alias) == (alias, [])
    src, dst = str(tmp_path / 'official.pth.tar'), str(tmp_path / 'ours.pth')
    torch.save(dict(state_dict={'module.' + k: v for k, v in official.items()}), src)
    meta = convert_rlanet_checkpoint(src, dst, classifier=True, arch=alias)
    assert meta['arch'] == alias and meta['model'] == converter.model_config(canonical, classifier=True)
    saved = torch.load(dst, weights_only=True)
    assert all(torch.equal(saved['state_dict'][k], v) for k, v in ours.state_dict().items())
    k12 = converter.to_official(
        MMPRETRAIN_MODELS.build(
            converter.model_config(alias.replace('mobilenetv2', 'mobilenetv2_k12'), classifier=True)
        ).state_dict(),
        alias.replace('mobilenetv2', 'mobilenetv2_k12'),
    )
    with pytest.raises(ValueError, match=f'--arch {alias} does not fit'):
        resolve_arch(k12, alias)


def test_converter_rejects_what_does_not_fit():
    official = converter.to_official(RLAMobileNetV2().state_dict(), 'dsrla_mobilenetv2_k32')
    with pytest.raises(ValueError, match=r"arch must be one of \[.*'dsrla_mobilenetv2_k32'.*got 'mobilenetv2'"):
        converter.to_ours(official, 'mobilenetv2', classifier=False)
    with pytest.raises(
        ValueError,
        match=r"not an authors' dsrla_mobilenetv2_k24 checkpoint.*shapes differ"
        r".*fits: \['dsrla_mobilenetv2_k32'\]",
    ):
        converter.to_ours(official, 'dsrla_mobilenetv2_k24', classifier=False)
    with pytest.raises(ValueError, match='needs the fc layer "classifier.1"'):
        converter.to_ours(official, 'dsrla_mobilenetv2_k32', classifier=True)
    official['stages.0.0.mystery.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"1 unknown keys, e.g. \['stages.0.0.mystery.weight'\]"):
        converter.to_ours(official, 'dsrla_mobilenetv2_k32', classifier=False)
    assert converter.candidate_archs(official) == []
    # An RLA-ResNet checkpoint is not one of this family's.
    from mmdet_rla.converters.rlanet import mmdet_to_official

    rla_resnet = mmdet_to_official(build_model(dict(type='RLAResNet', depth=18)).state_dict())
    assert converter.candidate_archs(rla_resnet) == []


# ---------------------------------------------------------------- the shared recurrent conv
def test_one_recurrent_conv_listed_five_times_as_in_the_authors_code():
    model = RLAMobileNetV2()
    convs = list(model.recurrent_convs)
    assert len(convs) == 5 and all(conv is convs[0] for conv in convs)
    assert convs[0].weight.shape == (32, 1, 3, 3)  # depthwise: groups = k
    state = model.state_dict()
    copies = [state[f'recurrent_convs.{g}.weight'] for g in range(5)]
    assert all(c.data_ptr() == copies[0].data_ptr() for c in copies)  # five entries, one tensor
    assert sum(1 for name, _ in model.named_parameters() if name.startswith('recurrent_convs.')) == 1
    official = converter.to_official(state, 'dsrla_mobilenetv2_k32')
    assert all(torch.equal(official[f'recurrent_dsconvs.{g}.weight'], copies[0]) for g in range(5))

    # mmengine's paramwise optimiser constructor walks every child: the conv must reach it only once.
    wrapper = build_optim_wrapper(
        model,
        dict(
            optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=4e-5), paramwise_cfg=dict(norm_decay_mult=0.0)
        ),
    )
    in_optimizer = [p for group in wrapper.optimizer.param_groups for p in group['params']]
    assert sum(p is convs[0].weight for p in in_optimizer) == 1
    assert len(in_optimizer) == len(list(model.parameters()))


def test_converter_refuses_disagreeing_copies_naming_the_keys():
    official = converter.to_official(RLAMobileNetV2().state_dict(), 'dsrla_mobilenetv2_k32')
    official = {k: v.clone() for k, v in official.items()}
    official['recurrent_dsconvs.3.weight'] += 1
    with pytest.raises(
        ValueError,
        match=r"\['recurrent_dsconvs.3.weight'\] differ from recurrent_dsconvs.0.weight: "
        r'.*ONE recurrent conv',
    ):
        converter.to_ours(official, 'dsrla_mobilenetv2_k32', classifier=False)
    # Our per-stage option has no place in the authors' layout.
    per_stage = randomise(RLAMobileNetV2(recurrent_conv_sharing='stage'), seed=0)
    with pytest.raises(ValueError, match=r'recurrent_dsconvs.1.weight.*differ'):
        converter.to_official(per_stage.state_dict(), 'dsrla_mobilenetv2_k32')


def test_per_stage_sharing_gives_one_conv_per_resolution_stage():
    model = RLAMobileNetV2(recurrent_conv_sharing='stage', recurrent_conv='full')
    convs = list(model.recurrent_convs)
    assert len({id(c) for c in convs}) == 5
    assert model.stage_of_layer == (0, 1, 2, 3, 3, 4, 4)  # layers 4-5 and 6-7 share a resolution
    assert n_params(model) == n_params(RLAMobileNetV2(recurrent_conv='full')) + 4 * 32 * 32 * 9
    model.train()
    sum(o.mean() for o in model(torch.rand(2, 3, 64, 64))).backward()
    assert all(c.weight.grad is not None and c.weight.grad.abs().sum() > 0 for c in convs)


# ----------------------------------------------------------------------------- the equation
def test_layer_update_is_the_papers_equation():
    """A strided two-block layer: h pooled after the first block, h' = R(tanh(BN_t(h + Conv1(y))))."""
    torch.manual_seed(0)
    model = randomise(RLAMobileNetV2(), seed=3)
    layer, recurrent_conv = model.layer2, model.recurrent_convs[1]
    x, h = torch.rand(1, 16, 15, 17), torch.rand(1, 32, 15, 17)
    with torch.no_grad():
        x_out, h_out = layer(x, h, recurrent_conv)
        expected_x, expected_h = x, h
        for t, block in enumerate(layer.blocks):
            expanded = block.expand_conv(expected_x)
            y = block.linear_conv(block.depthwise_conv(torch.cat([expanded, expected_h], 1)))
            expected_x = expected_x + y if block.with_res_shortcut else y
            if t == 0:  # stride 2: ceil-mode pooling keeps h the size of x
                expected_h = torch.nn.functional.avg_pool2d(expected_h, 2, ceil_mode=True)
            expected_h = recurrent_conv(torch.tanh(layer.norms[t](expected_h + layer.conv_out(y))))
    assert not layer.blocks[0].with_res_shortcut and layer.blocks[1].with_res_shortcut
    torch.testing.assert_close(x_out, expected_x)
    torch.testing.assert_close(h_out, expected_h)
    assert h_out.shape == (1, 32, 8, 9)


def test_last_conv_reads_the_rla_output_unless_discarded():
    model = randomise(RLAMobileNetV2(out_indices=(6, 7)), seed=4)
    assert model.conv2.conv.in_channels == 320 + 32
    discarded = RLAMobileNetV2(with_rla_output=False, out_indices=(6, 7))
    assert discarded.conv2.conv.in_channels == 320 and not hasattr(discarded, 'output_norm')
    assert discarded.layer7.conv_out is None and len(discarded.layer7.norms) == 0  # nothing reads that update
    assert n_params(discarded) == n_params(model) - 32 * 1280 - 2 * 32 - (320 * 32 + 2 * 32)
    # The RLA output changes conv2's result: zero the state's contribution and it differs.
    images = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        x7, out = model(images)
        model.output_norm.bias.fill_(-10.0)  # ReLU6(BN(h)) = 0 everywhere
        _, without_h = model(images)
        assert torch.equal(without_h, model.conv2(torch.cat([x7, torch.zeros(1, 32, 2, 2)], 1)))
    assert not torch.allclose(out, without_h)


# ------------------------------------------------------------------------ mmdet's knobs
@pytest.mark.parametrize('out_indices', [(0,), (1, 2, 4, 7), tuple(range(8)), (2, 4, 6), (3, 5)])
def test_out_indices_over_the_eight_layers(out_indices):
    model = RLAMobileNetV2(out_indices=out_indices).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 96))
    assert tuple(o.shape[1] for o in outs) == tuple(CHANNELS[i] for i in out_indices)


@pytest.mark.parametrize('widen_factor', [0.5, 1.4])
def test_widen_factor_and_odd_sizes_give_mmdet_mobilenetv2_shapes(widen_factor):
    indices = tuple(range(8))
    ours = RLAMobileNetV2(widen_factor=widen_factor, out_indices=indices).eval()
    mmdet = MobileNetV2(widen_factor=widen_factor, out_indices=indices)
    mmdet.eval()  # (mmdet's MobileNetV2.train returns None: no chaining)
    for hw in ((97, 131), (33, 31)):
        images = torch.rand(1, 3, *hw)
        with torch.no_grad():
            assert [o.shape for o in ours(images)] == [o.shape for o in mmdet(images)]
    assert ours.conv2.conv.out_channels == (1792 if widen_factor > 1 else 1280)


def test_frozen_stages_freeze_rla_parts_and_norm_eval_holds():
    model = RLAMobileNetV2(frozen_stages=2, norm_eval=True).train()
    frozen = ('conv1.', 'layer1.', 'layer2.', 'recurrent_convs.')  # the one shared conv is used by layer 1
    for name, param in model.named_parameters():
        assert param.requires_grad != name.startswith(frozen), name
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))

    per_stage = RLAMobileNetV2(frozen_stages=4, recurrent_conv_sharing='stage').train()
    # Layers 1-4 use the convs of stages 0-3 (layer 5 shares stage 3's): those freeze, stage 4's trains.
    assert [c.weight.requires_grad for c in per_stage.recurrent_convs] == [False, False, False, False, True]
    assert not per_stage.layer4.norms[0].training and not per_stage.layer4.conv_out.weight.requires_grad
    assert not per_stage.conv1.bn.training  # mmdet's MobileNetV2 leaves a frozen stem's norm training
    assert per_stage.layer5.norms[0].training and per_stage.layer5.blocks[0].depthwise_conv.bn.training
    assert per_stage.output_norm.training and per_stage.conv2.conv.weight.requires_grad

    stem_only = RLAMobileNetV2(frozen_stages=0).train()
    assert not stem_only.conv1.conv.weight.requires_grad and stem_only.recurrent_convs[0].weight.requires_grad


@pytest.mark.parametrize(
    'kwargs,missing',
    [
        (dict(), []),
        (dict(with_rla_output=False, out_indices=(4, 7)), []),
        # mmdet's YOLOv3 outputs: as with mmdet's MobileNetV2, conv2 and what only it reads go unused.
        (
            dict(out_indices=(2, 4, 6)),
            [
                'layer7.conv_out.weight',
                'layer7.norms.0.weight',
                'layer7.norms.0.bias',
                'conv2.conv.weight',
                'conv2.bn.weight',
                'conv2.bn.bias',
                'output_norm.weight',
                'output_norm.bias',
            ],
        ),
    ],
)
def test_which_parameters_get_gradients(kwargs, missing):
    model = RLAMobileNetV2(**kwargs).train()
    sum(o.mean() for o in model(torch.rand(2, 3, 64, 64))).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == missing


def test_with_cp_gives_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = RLAMobileNetV2(channel_attention='eca')
    checkpointed = RLAMobileNetV2(channel_attention='eca', with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    images = torch.rand(2, 3, 65, 47, requires_grad=True)
    outs_plain, outs_cp = plain.train()(images), checkpointed.train()(images)
    for a, b in zip(outs_plain, outs_cp):
        torch.testing.assert_close(a, b)
    sum(o.square().sum() for o in outs_plain).backward()
    sum(o.square().sum() for o in outs_cp).backward()
    for (name, p), q in zip(plain.named_parameters(), checkpointed.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)


def test_state_follows_the_input_dtype_and_both_registries_build_it():
    model = build_model(dict(type='RLAMobileNetV2', out_indices=(7,))).eval().double()
    with torch.no_grad():
        (out,) = model(torch.rand(1, 3, 41, 39, dtype=torch.float64))
    assert out.dtype == torch.float64 and out.shape == (1, 1280, 2, 2)
    assert isinstance(MMPRETRAIN_MODELS.build(dict(type='RLAMobileNetV2')), RLAMobileNetV2)


@pytest.mark.parametrize(
    'kwargs,pattern',
    [
        (dict(rla_channels=0), r'rla_channels must be a positive integer, got 0'),
        (dict(recurrent_conv='separable'), r"recurrent_conv must be one of \['depthwise', 'full'\], got 'separable'"),
        (dict(recurrent_conv_sharing='layer'), r"recurrent_conv_sharing must be one of \['network', 'stage'\]"),
        (dict(channel_attention='cbam'), r"channel_attention must be one of \[None, 'se', 'eca'\]"),
        (
            dict(channel_attention='eca', eca_kernel_sizes=(3, 3)),
            r'eca_kernel_sizes must have one odd size per layer \(7\)',
        ),
        (dict(channel_attention='eca', eca_kernel_sizes=(2,) * 7), r'eca_kernel_size must be odd, got 2'),
        (dict(out_indices=(1, 8)), r'out_indices must hold distinct stage indices in \[0, 7\]'),
        (dict(frozen_stages=8), r'frozen_stages must be an integer in \[-1, 7\], got 8'),
        (dict(widen_factor=0), r'widen_factor must be a positive number, got 0'),
        (dict(with_rla_output='yes'), r"with_rla_output must be one of \[True, False\], got 'yes'"),
    ],
)
def test_bad_arguments_name_the_argument_and_allowed_values(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        RLAMobileNetV2(**kwargs)


# ---------------------------------------------------------------------------------- configs
def test_configs_exist_and_the_metafile_lists_them():
    names = {os.path.basename(p) for p in DET_CONFIGS}
    assert names == {
        'ssdlite_rla-mobilenetv2-scratch_8xb24-600e_coco.py',
        'yolov3_rla-mobilenetv2_8xb24-320-300e_coco.py',
    }
    with open(os.path.join(REPO, 'configs', 'rla_mobilenetv2', 'metafile.yml'), encoding='utf-8') as f:
        metafile = f.read()
    for name in names:
        assert f'configs/rla_mobilenetv2/{name}' in metafile
    assert {os.path.basename(p) for p in CLS_CONFIGS} == {
        'rla-mobilenet-v2_2xb48_in1k.py',
        'rla-eca-mobilenet-v2_2xb48_in1k.py',
    }


@pytest.mark.parametrize('config', DET_CONFIGS, ids=os.path.basename)
def test_detector_config_trains_one_step_and_infers(config):
    cfg = Config.fromfile(config)
    base_neck = {'ssdlite': (96, 1280), 'yolov3': [320, 96, 32]}[os.path.basename(config).split('_')[0]]
    assert tuple(cfg.model.neck.in_channels) == tuple(base_neck)  # unchanged from mmdet's config
    # The configs' own 320x320; 2 images, as SSDLite's last neck levels are 1x1 there (a training BN needs two).
    losses, results = detector_smoke_test(config, image_hw=(320, 320), batch_size=2)
    values = [v for vs in losses.values() for v in (vs if isinstance(vs, list) else [vs])]
    assert values and all(torch.isfinite(v).all() for v in values)
    assert len(results) == 1 and hasattr(results[0], 'pred_instances')


@pytest.mark.parametrize('config', CLS_CONFIGS, ids=os.path.basename)
def test_classification_config_trains_one_step(config):
    cfg = Config.fromfile(config)
    assert (cfg.train_dataloader.batch_size, cfg.train_cfg.max_epochs) == (48, 400)
    assert cfg.optim_wrapper.optimizer.lr == 0.045 and cfg.param_scheduler.gamma == 0.98
    model = MMPRETRAIN_MODELS.build(dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    arch = 'dsrla_mobilenetv2_k32_eca' if 'eca' in os.path.basename(config) else 'dsrla_mobilenetv2_k32'
    assert n_params(model) == {'dsrla_mobilenetv2_k32': 3_624_168, 'dsrla_mobilenetv2_k32_eca': 3_624_199}[arch]
    # The converter's config for the released weights is this config's model.
    assert (
        model.state_dict().keys()
        == MMPRETRAIN_MODELS.build(converter.model_config(arch, classifier=True)).state_dict().keys()
    )
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    from mmpretrain.structures import DataSample

    data = dict(
        inputs=[torch.randint(0, 256, (3, 64, 64), dtype=torch.uint8) for _ in range(2)],
        data_samples=[DataSample().set_gt_label(label) for label in (3, 7)],
    )
    model.train()
    losses = model.train_step(data, wrapper)
    assert torch.isfinite(losses['loss'])


def test_converter_tool_converts_a_released_mobilenet_file_without_arch(tmp_path, capsys):
    """The dispatcher finds the MobileNetV2 family from the keys; both layouts load strictly from their meta."""
    import importlib.util

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(
        'rlanet2mmdet', os.path.join(repo, 'tools', 'model_converters', 'rlanet2mmdet.py')
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    arch = 'dsrla_mobilenetv2_k32_eca'
    ours = randomise(MMPRETRAIN_MODELS.build(converter.model_config(arch, classifier=True, num_classes=10)), seed=3)
    src = str(tmp_path / 'dsrla_mobilenetv2_k32_eca_2707.pth.tar')
    official = {'module.' + k: v for k, v in converter.to_official(ours.state_dict(), arch).items()}
    torch.save({'epoch': 400, 'state_dict': official, 'best_acc1': torch.tensor(72.9)}, src)
    images = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    for extra in (['--cls'], []):
        dst = str(tmp_path / f'out{len(extra)}.pth')
        assert tool.main([src, dst] + extra) == 0, capsys.readouterr().err
        saved = torch.load(dst, weights_only=True)
        assert saved['meta']['arch'] == arch
        with torch.no_grad():
            if extra:
                assert saved['meta']['model']['head']['num_classes'] == 10  # read from the fc's rows
                rebuilt = MMPRETRAIN_MODELS.build(saved['meta']['model']).eval()
                rebuilt.load_state_dict(saved['state_dict'], strict=True)
                assert torch.equal(rebuilt(images, mode='tensor'), ours(images, mode='tensor'))
            else:
                rebuilt = build_model(saved['meta']['model']).eval()
                rebuilt.load_state_dict(saved['state_dict'], strict=True)
                assert torch.equal(rebuilt(images)[-1], ours.backbone(images)[-1])
