"""The analysis layer: block capture for every family, feature grids, block probes, the RoR channel
picture, the same-budget comparison script (tiny mode) and the TensorBoard backend of the tools."""

import glob
import json
import os
import os.path as osp
import subprocess

import mmcv
import numpy as np
import pytest
import torch
from conftest import DEMO_CONFIG, PYTHON, REPO_ROOT
from mmdet.models.backbones import ResNet
from mmengine.config import Config
from test_tools import load_tool

from mmdet_rla.analysis import BlockCapture, block_names, draw_block_grid, select_blocks
from mmdet_rla.analysis.compare import RunSummary, comparison_table, plot_comparison, summarise_run
from mmdet_rla.analysis.featmaps import grid_layout, tile_shape
from mmdet_rla.analysis.probe import accuracy, fit_linear_probe
from mmdet_rla.analysis.ror import channel_configuration, residual_channel_norms
from mmdet_rla.models import RLAResNet, RNNRegNet, RoRResNet
from mmdet_rla.tools_support.visualization import apply_visualization_args

DEMO_DIR = osp.join(REPO_ROOT, 'configs', '_demo_')
RESNET_DEMO = osp.join(DEMO_DIR, 'fcos_r18-tiny_fpn_gn-head_shapes.py')
REGNET_DEMO = osp.join(DEMO_DIR, 'fcos_rnn-regnet18-lstm-tiny_fpn_gn-head_shapes.py')
ROR_DEMO = osp.join(DEMO_DIR, 'fcos_ror-r18-tiny_fpn_gn-head_shapes.py')
CLS_DEMO_DIR = osp.join(REPO_ROOT, 'configs', 'classification', '_demo_')
TILE = 64  # panel size of the tool tests (small images, fast drawing)


def capture_all(backbone, x, **kwargs):
    backbone.eval()
    with torch.no_grad(), BlockCapture(backbone, **kwargs) as capture:
        outs = backbone(x)
    return capture, outs


# ------------------------------------------------------------------------------------ capture
@pytest.mark.parametrize('family', ['resnet', 'rla', 'regnet_lstm', 'regnet_gru', 'ror', 'regnet_partial'])
def test_capture_records_every_block_with_the_family_state(family):
    backbones = {
        'resnet': lambda: ResNet(depth=18, base_channels=8),
        'rla': lambda: RLAResNet(depth=18, base_channels=8, rla_channels=4),
        'regnet_lstm': lambda: RNNRegNet(depth=18, base_channels=8, regulator='lstm'),
        'regnet_gru': lambda: RNNRegNet(depth=20, stem_type='cifar', base_channels=4, regulator='gru'),
        'ror': lambda: RoRResNet(depth=18, base_channels=8),
        'regnet_partial': lambda: RNNRegNet(depth=18, base_channels=8, regulator_stages=(1,)),
    }
    torch.manual_seed(0)
    backbone = backbones[family]()
    x = torch.rand(2, 3, 61, 67)  # odd sizes: every stage rounds up
    capture, outs = capture_all(backbone, x, residual=True)
    names = block_names(backbone)
    assert list(capture.records) == names
    previous = None
    for name, record in capture.records.items():
        if previous is not None:  # I of a block is O of the block before it
            assert torch.equal(record.input, previous.output)
        assert record.residual.shape == record.output.shape
        previous = record
    # The last block of each stage returns what the backbone returns for that stage.
    for stage, out in enumerate(outs):
        last = [n for n in names if n.startswith(f'layer{stage + 1}.')][-1]
        assert torch.equal(capture.records[last].output, out)

    states = {name: sorted(r.states) for name, r in capture.records.items()}
    expected = {'resnet': [], 'ror': [], 'rla': ['h'], 'regnet_lstm': ['C', 'H'], 'regnet_gru': ['H']}
    if family == 'regnet_partial':  # only layer2 is regulated
        assert states == {n: (['C', 'H'] if n.startswith('layer2.') else []) for n in names}
    else:
        assert all(s == expected[family] for s in states.values())
    for record in capture.records.values():
        for state in record.states.values():
            assert state.shape[0] == 2
            if family.startswith('regnet'):  # H and C at the block's output resolution, its width
                assert state.shape == record.output.shape
            else:  # RLA's h: k channels at the resolution of the input it is read with
                assert state.shape == (2, 4) + record.input.shape[2:]


@pytest.mark.parametrize('rla', [True, False])
def test_capture_records_mobilenetv2_blocks(rla):
    """MobileNetV2 lists its layers in ``layers`` (the last 1x1 conv is no stage of blocks); RLA-MobileNetV2's
    blocks read h beside I, and the residual is the linear 1x1 conv's output."""
    from mmdet.models.backbones import MobileNetV2

    from mmdet_rla.models import RLAMobileNetV2

    torch.manual_seed(0)
    backbone = (
        RLAMobileNetV2(widen_factor=0.25, rla_channels=4, out_indices=(2, 7))
        if rla
        else MobileNetV2(widen_factor=0.25, out_indices=(2, 7))
    )
    capture, outs = capture_all(backbone, torch.rand(1, 3, 61, 67), residual=True)
    names = block_names(backbone)
    assert names[0] == 'layer1.0' and names[-1] == 'layer7.0' and len(names) == 17  # 1+2+3+4+3+3+1 blocks
    assert list(capture.records) == names
    last_of_layer3 = [n for n in names if n.startswith('layer3.')][-1]
    assert torch.equal(capture.records[last_of_layer3].output, outs[0])
    for name, record in capture.records.items():
        assert record.residual.shape == record.output.shape
        if rla:
            assert sorted(record.states) == ['h'] and record.states['h'].shape[:2] == (1, 4)
            assert record.states['h'].shape[2:] == record.input.shape[2:]
        else:
            assert record.states == {}
    if rla:  # h^0 = 0, then the aggregate of the blocks before
        assert torch.count_nonzero(capture.records['layer1.0'].states['h']) == 0
        assert torch.count_nonzero(capture.records['layer4.0'].states['h']) > 0


def test_rla_state_is_the_h_each_block_reads():
    """h^t = Conv3(tanh(BN_t(h^{t-1} + Conv1(y^t)))) (Eq. 11): the h recorded for block t+1 follows from
    the h and the residual recorded for block t."""
    torch.manual_seed(0)
    backbone = RLAResNet(depth=18, base_channels=8, rla_channels=4)
    for module in backbone.modules():  # non-trivial norms: the zero-init would make y = 0
        if isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            torch.nn.init.uniform_(module.running_var, 0.5, 1.5)
    capture, _ = capture_all(backbone, torch.rand(1, 3, 64, 64), residual=True)
    stage = backbone.layer1
    first, second = capture.records['layer1.0'], capture.records['layer1.1']
    assert torch.count_nonzero(first.states['h']) == 0  # h^0 = 0
    expected = stage.recurrent_conv(torch.tanh(stage.norms[0](first.states['h'] + stage.conv_out(first.residual))))
    assert torch.allclose(second.states['h'], expected, atol=1e-6)
    assert torch.count_nonzero(second.states['h']) > 0


def test_regnet_lstm_records_hidden_and_cell_of_the_same_step():
    """A ConvLSTM's hidden state is o * tanh(c) with o in (0, 1): |H| <= |tanh(C)| everywhere."""
    torch.manual_seed(0)
    capture, _ = capture_all(RNNRegNet(depth=18, base_channels=8), torch.rand(1, 3, 64, 64))
    for record in capture.records.values():
        hidden, cell = record.states['H'], record.states['C']
        assert (hidden.abs() <= torch.tanh(cell).abs() + 1e-6).all()
        assert not torch.equal(hidden, cell)


def test_residual_is_recorded_before_the_in_place_sum():
    """mmdet's blocks add the shortcut to the residual in place: the record must keep F(x) itself."""
    torch.manual_seed(0)
    backbone = ResNet(depth=18, base_channels=8, zero_init_residual=False)
    capture, _ = capture_all(backbone, torch.rand(1, 3, 64, 64), residual=True)
    record = capture.records['layer1.1']  # identity shortcut: O = ReLU(F(x) + I)
    assert torch.allclose(record.output, torch.relu(record.residual + record.input), atol=1e-6)
    assert not torch.allclose(record.residual, record.output)


def test_capture_selection_replacement_and_hook_removal():
    backbone = RNNRegNet(depth=18, base_channels=8).eval()
    names = block_names(backbone)
    assert select_blocks(names, ['layer2']) == ['layer2.0', 'layer2.1']
    assert select_blocks(names, ['layer4.1', 0, '-2']) == ['layer1.0', 'layer4.0', 'layer4.1']
    with pytest.raises(ValueError, match=r"blocks: 'layer9' names no block; allowed: .*layer4.1"):
        select_blocks(names, ['layer9'])
    with pytest.raises(ValueError, match='out of range for 8 blocks'):
        select_blocks(names, [8])
    with pytest.raises(ValueError, match='not a residual backbone'):
        BlockCapture(torch.nn.Conv2d(3, 3, 1))
    with torch.no_grad(), BlockCapture(backbone, ['layer3']) as capture:
        backbone(torch.rand(2, 3, 64, 64))
        backbone(torch.rand(1, 3, 32, 32))  # the latest forward pass replaces the records
    assert list(capture.records) == ['layer3.0', 'layer3.1']
    assert capture.records['layer3.0'].output.shape[0] == 1
    assert all(not block._forward_hooks and not block._forward_pre_hooks for block in backbone.modules())


# -------------------------------------------------------------------------------- feature grid
def test_feature_grid_has_one_row_per_block_and_distinct_panels():
    torch.manual_seed(0)
    backbone = RNNRegNet(depth=18, base_channels=8, regulator_stages=(1,))  # layer1 has no regulator
    capture, _ = capture_all(backbone, torch.rand(1, 3, 64, 80), blocks=['layer1.1', 'layer2'])
    records = list(capture.records.values())
    image = np.random.RandomState(0).randint(0, 255, (60, 75, 3), dtype=np.uint8)
    grid = draw_block_grid(records, image, tile_size=TILE, valid_fraction=(60 / 64, 75 / 80), title='t')
    layout = grid_layout(3, 4, tile_shape(image.shape[:2], TILE), 't')
    assert grid.shape == layout.size + (3,) and layout.tile == (51, 64)
    panels = [
        [grid[t:b, left:r].astype(int) for t, b, left, r in (layout.tile_box(row, col) for col in range(4))]
        for row in range(3)
    ]
    # Row 0 (unregulated layer1.1): empty H and C panels; rows 1-2: the states differ from I and each other.
    assert all(panel.min() == panel.max() for panel in panels[0][1:3])
    for row in (1, 2):
        inputs, hidden, cell, output = panels[row]
        assert np.abs(hidden - inputs).mean() > 5 and np.abs(cell - hidden).mean() > 1
    assert np.abs(panels[1][3] - panels[1][0]).mean() > 5  # layer2.0 projects: O is not I
    with pytest.raises(ValueError, match='channel_reduction must be one of'):
        draw_block_grid(records, image, channel_reduction='max')


@pytest.fixture(scope='module')
def val_image(synthetic_coco):
    return sorted(glob.glob(osp.join(synthetic_coco['root'], 'val', '*.png')))[0]


def save_untrained_checkpoint(config: str, path: str) -> str:
    """A checkpoint of the config's model as initialised (the tools load it like any other)."""
    from mmdet_rla.analysis.inputs import build_model, load_config

    torch.save({'state_dict': build_model(load_config(config), seed=1).state_dict()}, path)
    return path


@pytest.mark.parametrize(
    'config,columns', [(DEMO_CONFIG, 3), (REGNET_DEMO, 4), (RESNET_DEMO, 2)], ids=['rla', 'rnn_regnet', 'resnet']
)
def test_vis_features_tool(config, columns, val_image, tmp_path):
    tool = load_tool('analysis/vis_features.py')
    out = str(tmp_path / 'grid.png')
    checkpoint = save_untrained_checkpoint(config, str(tmp_path / 'model.pth')) if columns == 4 else None
    args = (
        [config]
        + ([checkpoint] if checkpoint else [])
        + ['--img', val_image, '--blocks', 'layer1', 'layer3.1', '--out', out, '--tile-size', str(TILE)]
    )
    if columns == 3:
        args += ['--vis-backend', 'tensorboard', '--work-dir', str(tmp_path / 'tb')]
    tool.main(args)
    grid = mmcv.imread(out)
    layout = grid_layout(3, columns, (TILE, TILE), 'title')  # 128x128 images: square panels
    assert grid.shape == layout.size + (3,)
    first_row = [grid[t:b, left:r].astype(int) for t, b, left, r in (layout.tile_box(0, c) for c in range(columns))]
    if columns > 2:  # the state panel is not the input panel
        assert np.abs(first_row[1] - first_row[0]).mean() > 5
    if columns == 3:
        tags = tensorboard_tags(str(tmp_path / 'tb'))
        assert 'block_features' in tags['images']


def test_vis_features_tool_on_a_classifier(val_image, tmp_path, capsys):
    from mmengine.registry import DefaultScope

    tool = load_tool('analysis/vis_features.py')
    config = osp.join(CLS_DEMO_DIR, 'rla-resnet20-tiny_1xb16_synthetic-patterns.py')

    def current_scope():
        # By name: mmengine restores an overwritten scope as a deep copy of the instances that existed.
        scope = DefaultScope.get_current_instance()
        return None if scope is None else (scope.instance_name, scope.scope_name)

    scope, rng = current_scope(), torch.random.get_rng_state()
    tool.main([config, '--list-blocks'])  # needs no image and writes nothing
    # No process-wide side effect (other code and tests build with their own scope and seeds).
    assert current_scope() == scope and torch.equal(torch.random.get_rng_state(), rng)
    assert capsys.readouterr().out.split() == [f'layer{s}.{b}' for s in (1, 2, 3) for b in range(3)]
    with pytest.raises(SystemExit):
        tool.main([config, '--img', val_image])
    assert 'the following arguments are required: --out' in capsys.readouterr().err
    out = str(tmp_path / 'cls.png')
    tool.main([config, '--img', val_image, '--blocks', '-1', '--out', out, '--tile-size', str(TILE)])
    assert mmcv.imread(out).shape == grid_layout(1, 3, (TILE, TILE), 'title').size + (3,)
    with pytest.raises(ValueError, match='img must be an existing image file'):
        tool.main([config, '--img', str(tmp_path / 'missing.png'), '--out', out])


def tensorboard_tags(log_dir: str) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = {'images': set(), 'scalars': set()}
    for path in glob.glob(osp.join(log_dir, '**', 'events.out.tfevents.*'), recursive=True):
        events = EventAccumulator(path, size_guidance={'images': 0, 'scalars': 0})
        events.Reload()
        for kind in tags:
            tags[kind].update(events.Tags()[kind])
    return tags


def test_analysis_tools_load_only_checkpoints_of_their_model(tmp_path):
    from mmdet_rla.analysis.inputs import load_weights

    def network():
        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))

    torch.manual_seed(0)
    trained, path = network(), str(tmp_path / 'ckpt.pth')
    torch.save({'state_dict': {f'module.{k}': v for k, v in trained.state_dict().items()}}, path)  # DDP names
    model = network()
    load_weights(model, path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), trained.state_dict().values()))

    partial = {k: v for k, v in trained.state_dict().items() if k.startswith('0.')}
    torch.save(partial, path)  # a bare state dict lacking the norm: loaded, with a warning naming what is missing
    with pytest.warns(UserWarning, match=r"lacks 5 of the 7 tensors of this Sequential .* e\.g\. \['1\.bias', "):
        load_weights(network(), path)
    torch.save({'state_dict': {'0.weight': torch.zeros(4, 3, 3, 3)}}, path)  # another model's conv
    with pytest.raises(ValueError, match=r'holds no weights of this Sequential: none of its 1 tensors fits'):
        load_weights(network(), path)


# ------------------------------------------------------------------------------------- probes
def test_linear_probe_separates_separable_features_and_not_random_labels():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(120) % 4
    centres = torch.randn(4, 16, generator=generator) * 3
    features = centres[labels] + torch.randn(120, 16, generator=generator)
    probe = fit_linear_probe(features[:80], labels[:80], 4)
    assert accuracy(probe, features[80:], labels[80:]) == 100.0
    shuffled = labels[torch.randperm(120, generator=generator)]
    noise = torch.randn(120, 16, generator=generator)
    assert accuracy(fit_linear_probe(noise[:80], shuffled[:80], 4), noise[80:], shuffled[80:]) < 60.0


def test_block_probe_tool(tmp_path):
    from mmdet_rla.analysis.inputs import build_model, load_config
    from mmdet_rla.analysis.probe import pooled_block_outputs, probe_dataloader
    from mmdet_rla.datasets.synthetic_cls import generate_cls_dataset

    data = str(tmp_path / 'data')
    generate_cls_dataset(data, train_per_class=6, val_per_class=3, seed=0)
    options = [f'{split}_dataloader.dataset.data_root={data}' for split in ('train', 'val', 'test')]
    configs = [
        osp.join(CLS_DEMO_DIR, f'{name}-tiny_1xb16_synthetic-patterns.py') for name in ('resnet20', 'rnn-regnet20-lstm')
    ]
    pairs = []
    for index, config in enumerate(configs):
        pairs += [config, save_untrained_checkpoint(config, str(tmp_path / f'model{index}.pth'))]
    out, out_json = str(tmp_path / 'probe.png'), str(tmp_path / 'probe.json')
    load_tool('analysis/block_probe.py').main(
        pairs
        + ['--labels', 'ResNet-20', 'RegNet-20', '--num-blocks', '2', '--out', out, '--json', out_json, '--cfg-options']
        + options
    )
    with open(out_json) as f:
        results = json.load(f)
    assert list(results) == ['ResNet-20', 'RegNet-20']
    for result in results.values():
        assert result['blocks'] == ['layer3.1', 'layer3.2'] and result['feature_dims'] == [32, 32]
        assert (result['num_train'], result['num_test']) == (24, 12)
        assert all(0 <= acc <= 100 for acc in result['test_accuracy'] + result['train_accuracy'])
    image = mmcv.imread(out)
    assert image.shape[0] > 200 and image.shape[1] > 300 and image.std() > 10

    # The probed features are the pooled block outputs: for the last block, the classifier's own neck output.
    cfg = load_config(configs[0], dict(zip([o.split('=')[0] for o in options], [data] * 3)))
    model = build_model(cfg, pairs[1])
    # The config's top-level data_preprocessor (mmpretrain style) normalises the images, as in training.
    assert model.data_preprocessor.mean.flatten().tolist() == [127.5] * 3
    batch = model.data_preprocessor(next(iter(probe_dataloader(cfg, 'test'))), False)
    features, labels = pooled_block_outputs(model, probe_dataloader(cfg, 'test'), ['layer3.2'], max_images=5)
    assert features['layer3.2'].shape == (5, 32) and labels.tolist() == [0, 0, 0, 1, 1]
    with torch.no_grad():
        neck = model.extract_feat(batch['inputs'])[-1]
    assert torch.allclose(features['layer3.2'], neck[:5], atol=1e-6)
    with pytest.raises(ValueError, match='num_blocks must be at most the number of blocks'):
        load_tool('analysis/block_probe.py').main(pairs[:2] + ['--num-blocks', '10', '--cfg-options'] + options)


# ------------------------------------------------------------------------------------------ RoR
def test_ror_channels_of_an_untrained_net_refine_residuals_start_at_zero(val_image, tmp_path):
    """Zero-init of the last norm applies to Refine channels only: an untrained RoR block's residual is
    exactly zero on Refine channels and not on Represent channels."""
    out, out_json = str(tmp_path / 'ror.png'), str(tmp_path / 'ror.json')
    blocks = load_tool('analysis/ror_channels.py').main(
        [ROR_DEMO, '--img', val_image, val_image, '--out', out, '--json', out_json]
    )
    assert [b.name for b in blocks] == [f'layer{s}.{b}' for s in (1, 2, 3, 4) for b in (0, 1)]
    assert [len(b.represent_channels) for b in blocks] == [1, 1, 2, 2, 3, 3, 6, 6]  # 5% of 16..128, at least 1
    assert all(b.refine_rms == 0 and b.represent_rms > 0 for b in blocks)
    image = mmcv.imread(out)
    assert image.shape[0] > 400 and image.std() > 10
    with open(out_json) as f:
        assert [b['represent_channels'] for b in json.load(f)] == [b.represent_channels for b in blocks]

    torch.manual_seed(0)
    backbone = RoRResNet(depth=18, base_channels=8, zero_init_residual=False).eval()
    masks = backbone.refine_masks()
    measured = residual_channel_norms(backbone, [torch.rand(2, 3, 32, 32)])
    for block in measured:  # the configuration is the blocks' own masks
        stage, index = block.name.split('.')
        assert torch.equal(block.refine, masks[f'{stage}.{index}.refine_mask'].flatten() > 0)
        assert block.refine_rms > 0 and block.represent_rms > 0
    with pytest.raises(ValueError, match='needs a RoRResNet or RoRResNeXt backbone'):
        channel_configuration(RLAResNet(depth=18, base_channels=8))


# ------------------------------------------------------------------------ comparison and TensorBoard
def test_visualization_options_add_the_tensorboard_backend_and_the_hook():
    cfg = Config.fromfile(DEMO_CONFIG)
    args = load_tool('test.py').parse_args([DEMO_CONFIG, 'ckpt.pth', '--vis-backend', 'tensorboard', '--vis-features'])
    apply_visualization_args(cfg, args)
    apply_visualization_args(cfg, args)  # idempotent
    assert [b['type'] for b in cfg.visualizer.vis_backends] == ['LocalVisBackend', 'TensorboardVisBackend']
    assert [h['type'] for h in cfg.custom_hooks] == ['TestMetricsVisHook', 'BlockFeaturesHook']
    plain = Config.fromfile(DEMO_CONFIG)
    apply_visualization_args(plain, load_tool('train.py').parse_args([DEMO_CONFIG]))
    assert [b['type'] for b in plain.visualizer.vis_backends] == ['LocalVisBackend'] and not plain.get('custom_hooks')


def test_compare_demo_tiny_run(subprocess_env, tmp_path):
    """The four-backbone script in tiny mode: four trainings through tools/train.py with TensorBoard and the
    feature hook, then the figure and table; tools/test.py sends its metrics and pictures to TensorBoard too."""
    env = dict(
        subprocess_env,
        COMPARE_DIR=str(tmp_path),
        COMPARE_PYTHON=PYTHON,
        COMPARE_EPOCHS='1',
        COMPARE_NUM_TRAIN='8',
        COMPARE_NUM_VAL='4',
        COMPARE_LOG_INTERVAL='1',
        COMPARE_CFG_OPTIONS='model.test_cfg.score_thr=0.0',
    )
    proc = subprocess.run(
        ['bash', osp.join(REPO_ROOT, 'tools', 'run_compare_demo.sh')],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    rows = [line for line in open(tmp_path / 'compare.md').read().splitlines()[2:]]
    assert [row.split(' | ')[0] for row in rows] == [
        '| ResNet-18 (mmdet)',
        '| RLA-ResNet-18',
        '| RNNRegNet-18 (ConvLSTM)',
        '| RoR-ResNet-18',
    ]
    # backbone parameters as built (ResNet = RoR; RLA and RegNet add theirs), 2 iterations each
    assert [row.split(' | ')[4] for row in rows] == ['702,096', '784,496', '1,022,032', '702,096']
    assert all(row.split(' | ')[6] == '2' for row in rows)
    image = mmcv.imread(str(tmp_path / 'compare.png'))
    assert image.shape == (380, 1000, 3) and image.std() > 10
    for name in ('resnet', 'rla', 'rnn_regnet', 'ror'):
        tags = tensorboard_tags(str(tmp_path / name))
        assert {'loss', 'coco/bbox_mAP'} <= tags['scalars'] and 'block_features' in tags['images']
        with open(tmp_path / name / 'run_info.json') as f:
            assert json.load(f)['train_seconds'] > 0

    run = summarise_run('RLA', DEMO_CONFIG, str(tmp_path / 'rla'))
    assert [i for i, _ in run.losses] == [1, 2] and run.iterations == 2 and 'coco/bbox_mAP' in run.metrics
    assert comparison_table([run]).splitlines()[2].startswith('| RLA | 0.')

    test_dir = str(tmp_path / 'test')
    proc = subprocess.run(
        [
            PYTHON,
            osp.join(REPO_ROOT, 'tools', 'test.py'),
            REGNET_DEMO,
            str(tmp_path / 'rnn_regnet' / 'epoch_1.pth'),
            '--work-dir',
            test_dir,
            '--vis-backend',
            'tensorboard',
            '--vis-features',
            '--cfg-options',
            f'test_dataloader.dataset.data_root={tmp_path}/data/',
            'model.test_cfg.score_thr=0.0',
            f'test_evaluator.ann_file={tmp_path}/data/annotations/instances_val.json',
        ],
        cwd=REPO_ROOT,
        env=subprocess_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    tags = tensorboard_tags(test_dir)
    assert 'coco/bbox_mAP' in tags['scalars'] and 'block_features' in tags['images']
    assert glob.glob(osp.join(test_dir, '*', 'vis_data', 'vis_image', 'block_features_0.png'))


def test_comparison_figure_names_the_metrics_a_wrong_metric_could_be(tmp_path):
    metrics = {'coco/bbox_mAP': 0.25, 'coco/bbox_mAP_50': 0.5}
    evaluated = RunSummary('RLA', [(1, 2.0), (2, 1.5)], metrics, 2, 0.1, 10, 20)
    unevaluated = RunSummary('RoR', [(1, 2.1), (2, 1.7)], {}, 2, 0.1, 10, 20)
    with pytest.raises(
        ValueError,
        match=r"metric 'coco/segm_mAP' is in no run's last evaluation; they have "
        r"\['coco/bbox_mAP', 'coco/bbox_mAP_50'\]",
    ):
        plot_comparison([evaluated, unevaluated], str(tmp_path / 'wrong.png'), metric='coco/segm_mAP')
    assert not osp.exists(tmp_path / 'wrong.png')
    # A run without an evaluation gets an 'n/a' bar next to the others, as do runs that all lack one.
    for runs in ([evaluated, unevaluated], [unevaluated]):
        plot_comparison(runs, str(tmp_path / 'right.png'), metric='coco/bbox_mAP_50')
        assert mmcv.imread(str(tmp_path / 'right.png')).std() > 10


def test_compare_script_rejects_an_unknown_backbone(subprocess_env, tmp_path):
    env = dict(subprocess_env, COMPARE_DIR=str(tmp_path), COMPARE_PYTHON=PYTHON, COMPARE_BACKBONES='resnet vgg')
    proc = subprocess.run(
        ['bash', osp.join(REPO_ROOT, 'tools', 'run_compare_demo.sh')],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "unknown backbone 'vgg'" in proc.stdout
    assert not os.listdir(tmp_path)
