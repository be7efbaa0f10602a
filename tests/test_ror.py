"""Behaviour of the Refine-or-Represent backbones (RoRResNet, RoRResNeXt) and their detector configs."""

import glob
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torchvision
from conftest import COUNTS
from mmdet.models.backbones import ResNet, ResNeXt
from mmengine.runner import load_checkpoint
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet_rla.models import RoRBasicBlock, RoRBottleneck, RoRResNet, RoRResNeXt
from mmdet_rla.registry import MMPRETRAIN_MODELS, build_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROR_CONFIGS = sorted(glob.glob(os.path.join(REPO, 'configs', 'ror', '*_coco.py')))
MASK = 'refine_mask'


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def masks_of(model: nn.Module) -> torch.Tensor:
    """Every block's mask, concatenated in module order."""
    return torch.cat([buf.flatten() for name, buf in model.named_buffers() if name.endswith(MASK)])


def without_masks(state_dict: dict) -> dict:
    return {k: v for k, v in state_dict.items() if not k.endswith(MASK)}


def eval_bn(module: nn.Module) -> None:
    """Norms in eval mode, so a block's residual is a fixed function of its input."""
    for m in module.modules():
        if isinstance(m, _BatchNorm):
            m.eval()


def projection_bottleneck(**kwargs) -> RoRBottleneck:
    downsample = nn.Sequential(nn.Conv2d(32, 64, 1, stride=2, bias=False), nn.BatchNorm2d(64))
    return RoRBottleneck(32, 16, stride=2, downsample=downsample, **kwargs)


# --------------------------------------------------------------------------- construction
def test_registered_in_mmdet_and_mmpretrain():
    assert isinstance(build_model(dict(type='RoRResNet', depth=18)), RoRResNet)
    resnext = build_model(dict(type='RoRResNeXt', depth=29, stem_type='cifar', slim=True))
    assert isinstance(resnext, RoRResNeXt)
    assert isinstance(MMPRETRAIN_MODELS.build(dict(type='RoRResNet', depth=18)), RoRResNet)


@pytest.mark.parametrize(
    'cfg,size,channels,strides',
    [
        (dict(type='RoRResNet', depth=18), 64, (64, 128, 256, 512), (4, 8, 16, 32)),
        (dict(type='RoRResNet', depth=34, out_indices=(1, 3)), 64, (128, 512), (8, 32)),
        (dict(type='RoRResNeXt', depth=50), 64, (256, 512, 1024, 2048), (4, 8, 16, 32)),
        (dict(type='RoRResNet', depth=56, stem_type='cifar'), 16, (128, 256, 512), (1, 2, 4)),
        (dict(type='RoRResNet', depth=56, stem_type='cifar', slim=True), 16, (64, 128, 256), (1, 2, 4)),
        (dict(type='RoRResNet', depth=56, stem_type='cifar', cifar_arch='he'), 16, (16, 32, 64), (1, 2, 4)),
        (
            dict(type='RoRResNeXt', depth=29, stem_type='cifar', slim=True, channel_attention='se'),
            16,
            (128, 256, 512),
            (1, 2, 4),
        ),
    ],
)
def test_output_channels_and_strides(cfg, size, channels, strides):
    model = build_model(cfg)
    model.eval()
    outs = model(torch.rand(2, 3, size, size))
    assert [o.shape[1] for o in outs] == list(channels)
    assert [size // o.shape[-1] for o in outs] == list(strides)
    assert all(o.shape[0] == 2 for o in outs)


@pytest.mark.parametrize('hw', [(97, 131), (225, 225)])
def test_odd_input_sizes_match_mmdet_resnet(hw):
    x = torch.rand(1, 3, *hw)
    ours, theirs = RoRResNet(18), ResNet(18)
    ours.eval()
    theirs.eval()
    assert [o.shape for o in ours(x)] == [o.shape for o in theirs(x)]


def test_frozen_stages_and_norm_eval():
    model = RoRResNet(18, frozen_stages=2, norm_eval=True)
    model.train()
    frozen = [model.conv1, model.norm1, model.layer1, model.layer2]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for m in (model.layer3, model.layer4) for p in m.parameters())
    # Frozen stages are in eval mode, so their blocks do not drop either.
    assert not model.layer1[0].training and model.layer3[0].training
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))
    trainable_norms = RoRResNet(18, norm_eval=False)
    trainable_norms.train()
    assert all(m.training for m in trainable_norms.modules() if isinstance(m, _BatchNorm))


def test_parameter_counts_equal_mmdet_and_keys_match():
    ours, theirs = RoRResNet(50), ResNet(50)
    assert n_params(ours) == n_params(theirs) == COUNTS['resnet50']['params'] == COUNTS['ror-resnet50']['params']
    assert set(without_masks(ours.state_dict())) == set(theirs.state_dict())
    assert len(ours.refine_masks()) == 16  # one per block, nothing else added
    ours_x = RoRResNeXt(50, groups=32, base_width=4)
    theirs_x = ResNeXt(depth=50, groups=32, base_width=4)
    assert n_params(ours_x) == n_params(theirs_x)
    assert set(without_masks(ours_x.state_dict())) == set(theirs_x.state_dict())


@pytest.mark.parametrize(
    'cfg,num_classes,paper_millions',
    [
        (dict(depth=56, stem_type='cifar'), 10, 2.3),
        (dict(depth=56, stem_type='cifar', slim=True), 10, 0.6),
        (dict(depth=110, stem_type='cifar'), 10, 4.6),
        (dict(depth=110, stem_type='cifar', slim=True), 10, 1.2),
        (dict(depth=164, stem_type='cifar'), 10, 6.8),
        (dict(depth=164, stem_type='cifar', slim=True), 10, 1.7),
        (dict(type='RoRResNeXt', depth=29, stem_type='cifar'), 10, 34.4),
        (dict(type='RoRResNeXt', depth=29, stem_type='cifar', slim=True), 10, 8.6),
    ],
)
def test_cifar_models_have_the_papers_table_2_sizes(cfg, num_classes, paper_millions):
    model = build_model(dict(dict(type='RoRResNet'), **cfg))
    total = n_params(model) + model.feat_dim * num_classes + num_classes  # + the classifier
    assert abs(total / 1e6 - paper_millions) <= 0.05 * paper_millions


def test_channel_attention_adds_only_its_own_parameters():
    plain, se = RoRResNet(18), RoRResNet(18, channel_attention='se', se_reduction=16)
    se_params = sum(n_params(b.attention) for layer in se.res_layers for b in getattr(se, layer))
    assert se_params > 0 and n_params(se) == n_params(plain) + se_params


# --------------------------------------------------------------------------- the masks
def test_masks_have_the_configured_ratio_and_at_least_one_channel():
    model = RoRResNet(50, represent_ratio=0.05)
    for name, mask in model.refine_masks().items():
        channels = mask.numel()
        represent = int((mask == 0).sum())
        assert mask.shape == (1, channels, 1, 1)
        assert represent == max(1, int(0.05 * channels + 0.5)), name  # rounded half up
    tiny = RoRBasicBlock(4, 4, represent_ratio=0.01)
    assert int((tiny.refine_mask == 0).sum()) == 1
    assert masks_of(RoRResNet(18, represent_ratio=0)).eq(1).all()


def test_masks_come_from_the_seed_not_the_global_rng():
    torch.manual_seed(1)
    first = masks_of(RoRResNet(18, seed=7))
    torch.manual_seed(2)
    second = masks_of(RoRResNet(18, seed=7))
    assert torch.equal(first, second)
    assert not torch.equal(first, masks_of(RoRResNet(18, seed=8)))
    # Building a RoR net does not consume the global RNG: same default weights as mmdet's ResNet.
    torch.manual_seed(3)
    RoRResNet(18)
    after_ror = torch.rand(4)
    torch.manual_seed(3)
    ResNet(18)
    assert torch.equal(after_ror, torch.rand(4))


def test_masks_survive_save_and_load_and_the_checkpoint_wins(tmp_path):
    source = RoRResNet(18, seed=3)
    path = tmp_path / 'ror18.pth'
    torch.save(source.state_dict(), path)
    target = RoRResNet(18, seed=4)
    assert not torch.equal(masks_of(source), masks_of(target))
    result = target.load_state_dict(torch.load(path, weights_only=True), strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert torch.equal(masks_of(source), masks_of(target))
    # mmengine's loader (used by init_cfg=Pretrained and load_from) does the same.
    again = RoRResNet(18, seed=5)
    load_checkpoint(again, str(path), strict=True)
    assert torch.equal(masks_of(source), masks_of(again))


def _gather_masks_worker(rank: int, world_size: int, port: int, out_path: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world_size)
    try:
        torch.manual_seed(100 + rank)  # ranks differ in their global RNG, as in real runs
        mask = masks_of(RoRResNet(18, seed=11))
        gathered = [torch.empty_like(mask) for _ in range(world_size)]
        dist.all_gather(gathered, mask)
        if rank == 0:
            torch.save(torch.stack(gathered), out_path)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_masks_are_identical_on_two_distributed_ranks(tmp_path):
    out_path = str(tmp_path / 'gathered.pth')
    mp.spawn(_gather_masks_worker, args=(2, _free_port(), out_path), nprocs=2, join=True)
    gathered = torch.load(out_path, weights_only=True)
    assert gathered.shape[0] == 2
    assert torch.equal(gathered[0], gathered[1])
    assert torch.equal(gathered[0], masks_of(RoRResNet(18, seed=11)))
    assert (gathered[0] == 0).any()


# --------------------------------------------------------------------------- Eq. 6 and the drop-layer
@pytest.mark.parametrize(
    'make_block',
    [
        lambda **kw: RoRBasicBlock(64, 64, **kw),
        lambda **kw: RoRBottleneck(64, 16, **kw),
        projection_bottleneck,
    ],
    ids=['basic', 'bottleneck', 'projection'],
)
def test_represent_channels_never_receive_the_shortcut(make_block):
    block = make_block(represent_ratio=0.25, refine_drop_rate=0.5)
    last_norm = getattr(block, block.last_norm_name)
    nn.init.zeros_(last_norm.weight)
    nn.init.zeros_(last_norm.bias)  # F(x) = 0: the output is whatever the shortcut brings
    represent = block.represent_channels
    refine = block.refine_mask.flatten().bool()
    assert 0 < len(represent) < refine.numel()
    x = torch.rand(3, block.conv1.in_channels, 8, 8) + 0.1
    for training in (False, True):
        block.train(training)
        with torch.no_grad():
            out = block(x)
            identity = x if block.downsample is None else block.downsample(x)
        assert out[:, represent].eq(0).all()
        assert torch.equal(out[:, refine], identity.relu()[:, refine])


def test_represent_channels_are_never_dropped():
    torch.manual_seed(0)
    block = projection_bottleneck(represent_ratio=0.25, refine_drop_rate=0.5)
    block.train()
    eval_bn(block)
    represent = block.represent_channels
    x = torch.randn(64, 32, 6, 6)
    with torch.no_grad():
        expected = block.residual(x)[:, represent].relu()
        for _ in range(3):
            out = block(x)
            assert torch.equal(out[:, represent], expected)


def test_drop_rate_statistics_and_inverted_scaling():
    block = RoRBasicBlock(16, 16, represent_ratio=0.25, refine_drop_rate=0.2).train()
    refine = block.refine_mask.flatten().bool()
    num = 20_000
    torch.manual_seed(0)
    out = block.combine(torch.ones(num, 16, 1, 1), torch.zeros(num, 16, 1, 1))[:, :, 0, 0]
    assert out[:, ~refine].eq(1).all()  # Represent: never dropped, never rescaled
    kept = out[:, refine]
    # One draw per sample covers all its Refine channels (a drop-layer, not dropout).
    assert (kept == kept[:, :1]).all()
    values = kept.unique().tolist()
    assert len(values) == 2 and values[0] == 0 and values[1] == pytest.approx(1 / 0.8)
    dropped = kept[:, 0].eq(0).float().mean().item()
    assert abs(dropped - 0.2) < 4 * (0.2 * 0.8 / num) ** 0.5  # 4 sigma
    assert abs(kept.mean().item() - 1) < 0.02  # inverted scaling keeps the expectation
    block.eval()
    assert block.combine(torch.ones(4, 16, 1, 1), torch.zeros(4, 16, 1, 1)).eq(1).all()


def test_test_time_scaling_mode():
    block = RoRBasicBlock(16, 16, represent_ratio=0.25, refine_drop_rate=0.2, drop_scaling='test_time')
    refine = block.refine_mask.flatten().bool()
    ones, zeros = torch.ones(512, 16, 1, 1), torch.zeros(512, 16, 1, 1)
    torch.manual_seed(0)
    train_out = block.train().combine(ones.clone(), zeros)[:, :, 0, 0]  # combine writes into its residual
    assert set(train_out[:, refine].unique().tolist()) == {0.0, 1.0}  # kept residuals unscaled
    eval_out = block.eval().combine(ones.clone(), zeros)[:, :, 0, 0]
    assert torch.allclose(eval_out[:, refine], torch.full_like(eval_out[:, refine], 0.8))
    assert eval_out[:, ~refine].eq(1).all()


def test_eval_is_deterministic_and_training_drops_from_the_global_rng():
    model = RoRResNet(18, refine_drop_rate=0.5)
    x = torch.rand(2, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model(x), model(x)))
        model.train()
        torch.manual_seed(1)
        first = model(x)[-1]
        torch.manual_seed(1)
        same_seed = model(x)[-1]
        torch.manual_seed(2)
        other_seed = model(x)[-1]
    assert torch.equal(first, same_seed)
    assert not torch.equal(first, other_seed)


def test_linear_drop_schedule():
    model = RoRResNet(18, refine_drop_rate=0.2, drop_schedule='linear')
    rates = [block.refine_drop_rate for layer in model.res_layers for block in getattr(model, layer)]
    assert rates == pytest.approx([0.2 * (i + 1) / 8 for i in range(8)])
    constant = RoRResNet(18, refine_drop_rate=0.2)
    assert {b.refine_drop_rate for layer in constant.res_layers for b in getattr(constant, layer)} == {0.2}


@pytest.mark.parametrize(
    'cfg', [dict(depth=18), dict(depth=56, stem_type='cifar', slim=True)], ids=['basic', 'bottleneck']
)
def test_zero_init_residual_spares_represent_channels(cfg):
    model = RoRResNet(**cfg)
    model.init_weights()
    for layer in model.res_layers:
        for block in getattr(model, layer):
            weight = getattr(block, block.last_norm_name).weight.detach()
            represent = block.represent_channels
            refine = block.refine_mask.flatten().bool()
            assert weight[refine].eq(0).all()
            assert weight[represent].eq(1).all()  # the backbone's Constant(1) init, untouched


# --------------------------------------------------------------------------- equivalence and loading
@pytest.mark.parametrize(
    'ours,theirs',
    [
        (lambda: RoRResNet(50, represent_ratio=0, refine_drop_rate=0), lambda: ResNet(50)),
        # mmdet's ResNeXt never zero-inits (its check is ``block is Bottleneck``): compare without it.
        (
            lambda: RoRResNeXt(
                50,
                groups=32,
                base_width=4,
                represent_ratio=0,
                refine_drop_rate=0,
                num_stages=2,
                out_indices=(0, 1),
                zero_init_residual=False,
            ),
            lambda: ResNeXt(
                depth=50,
                groups=32,
                base_width=4,
                num_stages=2,
                strides=(1, 2),
                dilations=(1, 1),
                out_indices=(0, 1),
                zero_init_residual=False,
            ),
        ),
    ],
    ids=['resnet50', 'resnext50-2stages'],
)
def test_ratio_zero_and_no_drop_reproduce_mmdet_exactly(ours, theirs):
    torch.manual_seed(0)
    reference = theirs()
    reference.init_weights()
    torch.manual_seed(0)
    model = ours()
    model.init_weights()
    ref_state = reference.state_dict()
    state = without_masks(model.state_dict())
    assert set(state) == set(ref_state)
    assert all(torch.equal(state[k], ref_state[k]) for k in ref_state)  # same weights
    x = torch.rand(2, 3, 32, 32)
    for training in (True, False):
        reference.train(training)
        model.train(training)
        for a, b in zip(model(x), reference(x)):
            assert torch.equal(a, b)  # same outputs, bit for bit


def test_resnet50_weights_load_with_nothing_missing_or_unexpected(tmp_path):
    reference = ResNet(50)
    reference.eval()
    path = tmp_path / 'resnet50_mmdet.pth'
    torch.save(reference.state_dict(), path)
    state = torch.load(path, weights_only=True)

    model = RoRResNet(50, seed=0)
    seeded = masks_of(model)
    result = model.load_state_dict(state, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert torch.equal(masks_of(model), seeded)  # the checkpoint has no masks: the seed's stay
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())

    # The documented path: init_cfg=dict(type='Pretrained', checkpoint=...).
    pretrained = RoRResNet(50, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    pretrained.init_weights()
    loaded = pretrained.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert torch.equal(masks_of(pretrained), seeded)

    # torchvision's layout has the same backbone names, plus its classifier.
    tv_state = torchvision.models.resnet50(weights=None).state_dict()
    result = RoRResNet(50).load_state_dict(tv_state, strict=False)
    assert result.missing_keys == []
    assert sorted(result.unexpected_keys) == ['fc.bias', 'fc.weight']


# --------------------------------------------------------------------------- runtime options
def test_autocast_and_checkpointing():
    x = torch.rand(2, 3, 32, 32)
    model, reference = RoRResNet(18), ResNet(18)
    model.train()
    reference.train()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(x)
        ref_outs = reference(x)
    assert [o.dtype for o in outs] == [o.dtype for o in ref_outs]
    sum(o.float().mean() for o in outs).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)

    torch.manual_seed(0)
    plain = RoRResNet(18, norm_eval=False)
    checkpointed = RoRResNet(18, norm_eval=False, with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    plain.train()
    checkpointed.train()
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    outs = []
    for net, inp in zip((plain, checkpointed), xs):
        torch.manual_seed(5)  # same drops; checkpointing replays them in the recomputation
        out = net(inp)[-1]
        out.sum().backward()
        outs.append(out)
    assert torch.allclose(outs[0], outs[1])
    assert torch.allclose(xs[0].grad, xs[1].grad, atol=1e-6)


@pytest.mark.parametrize(
    'kwargs,name',
    [
        (dict(represent_ratio=-0.1), 'represent_ratio'),
        (dict(represent_ratio=1.0), 'represent_ratio'),
        (dict(represent_ratio='0.05'), 'represent_ratio'),
        (dict(refine_drop_rate=-0.01), 'refine_drop_rate'),
        (dict(refine_drop_rate=1), 'refine_drop_rate'),
        (dict(drop_scaling='bogus'), 'drop_scaling'),
        (dict(drop_schedule='cosine'), 'drop_schedule'),
        (dict(seed=-1), 'seed'),
        (dict(seed=1.5), 'seed'),
        (dict(channel_attention='cbam'), 'channel_attention'),
        (dict(cifar_arch='wide'), 'cifar_arch'),
        (dict(depth=29), 'depth'),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, name):
    cfg = dict(depth=18)
    cfg.update(kwargs)
    with pytest.raises(ValueError, match=name):
        RoRResNet(**cfg)


def test_bad_resnext_and_block_arguments():
    with pytest.raises(ValueError, match='depth'):
        RoRResNeXt(depth=18)
    with pytest.raises(ValueError, match='groups'):
        RoRResNeXt(depth=50, groups=0)
    with pytest.raises(ValueError, match='represent_ratio'):
        RoRBottleneck(64, 16, represent_ratio=1.5)
    with pytest.raises(ValueError, match='drop_scaling'):
        RoRBasicBlock(16, 16, drop_scaling='none')


# --------------------------------------------------------------------------- detector configs
def test_configs_cover_three_detectors_and_three_backbones():
    names = {os.path.basename(p) for p in ROR_CONFIGS}
    expected = {
        f'{det}_ror-{bb}_fpn_1x_coco.py'
        for det in ('faster-rcnn', 'retinanet', 'mask-rcnn')
        for bb in ('r50', 'r101', 'x101-32x4d')
    }
    assert names == expected
    import yaml

    with open(os.path.join(REPO, 'configs', 'ror', 'metafile.yml'), encoding='utf-8') as f:
        meta = yaml.safe_load(f)
    assert {os.path.basename(m['Config']) for m in meta['Models']} == expected


@pytest.mark.parametrize('config', ROR_CONFIGS, ids=os.path.basename)
def test_detector_config_builds_trains_one_step_and_infers(config):
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    from mmdet.utils import register_all_modules
    from mmengine.config import Config

    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config)
    backbone = cfg.model.backbone
    assert backbone.init_cfg['type'] == 'ResNetWarmStart'  # ImageNet ResNet/ResNeXt weights (no download here)
    backbone.init_cfg = None
    # Fewer sampled RoIs and proposals than COCO training uses: the heads' cost on CPU, not what
    # this test checks (the config's backbone inside a real detector), dominates otherwise.
    if 'rcnn' in cfg.model.train_cfg:
        cfg.model.train_cfg.rcnn.sampler.num = 64
        cfg.model.test_cfg.rpn.max_per_img = 100
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == backbone.type
    assert model.backbone.depth == backbone.depth
    with_mask = 'mask-rcnn' in os.path.basename(config)
    hw = (64, 64)
    packed = demo_mm_inputs(batch_size=1, image_shapes=[(3, *hw)], num_items=[2], with_mask=with_mask)
    model.train()
    losses = model(**model.data_preprocessor(packed, True), mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.layer4[-1].conv1.weight.grad is not None
    if with_mask:
        assert 'loss_mask' in losses
    model.eval()
    with torch.no_grad():
        results = model.test_step(demo_mm_inputs(batch_size=1, image_shapes=[(3, *hw)], num_items=[1]))
    assert len(results) == 1 and hasattr(results[0], 'pred_instances')
    assert hasattr(results[0].pred_instances, 'masks') == with_mask


@pytest.mark.parametrize('channel_attention', [None, 'se', 'eca'])
def test_in_place_combine_is_eq6_with_correct_gradients(channel_attention):
    """The block writes Eq. 6 (and the drop-layer) in place into its residual: the same values as the
    literal out-of-place formula, and autograd's gradients pass gradcheck in training mode (float64)."""
    torch.manual_seed(0)
    block = RoRBottleneck(32, 8, represent_ratio=0.25, channel_attention=channel_attention).double().train()
    for module in block.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
    x = torch.rand(3, 32, 7, 5, dtype=torch.float64, requires_grad=True)

    def run(inputs):
        torch.manual_seed(3)  # the same drop draw on every call
        return block(inputs)

    gate = block.refine_mask.double()
    torch.manual_seed(3)
    keep = (torch.rand((3, 1, 1, 1)) >= block.refine_drop_rate).double() / (1 - block.refine_drop_rate)
    residual = block.residual(x)
    if block.attention is not None:
        residual = block.attention(residual)
    literal = torch.relu(residual * (gate * keep + (1 - gate)) + x * gate)
    torch.testing.assert_close(run(x), literal, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(run, (x,), eps=1e-6, atol=1e-6, fast_mode=True)
