"""Classification: every config builds and classifies, the demo learns through the tools, and
classification checkpoints of ours initialise detector backbones with no missing weights."""

import glob
import json
import os.path as osp
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import COUNTS
from mmengine.config import Config
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.utils import register_all_modules

from mmdet_rla.datasets.synthetic_cls import CLASSES, generate_cls_dataset, make_pattern_image

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLS_CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'classification', '*', '*.py')))
DEMO_CONFIG = osp.join(REPO, 'configs', 'classification', '_demo_', 'rla-resnet20-tiny_1xb16_synthetic-patterns.py')
DEMO_EPOCHS = 12
register_all_modules(init_default_scope=False)

# Parameter counts with the fc layer: the tests/counts.yaml entry of each config's model. RLA: the authors' factories
# (their code has the same counts, tests/test_converter_release.py); RoR adds no parameters to its ResNet.
EXPECTED_COUNTS = {
    'rla-resnet50_4xb64_in1k.py': 'rla_resnet50',
    'rla-resnet101_4xb64_in1k.py': 'rla_resnet101',
    'rla-eca-resnet50_4xb64_in1k.py': 'rla_resnet50_eca',
    'rla-eca-resnet101_4xb64_in1k.py': 'rla_resnet101_eca',
    # RLA-ResNeXt and the Table 6 ablations: the authors' factories of the same design.
    'rla-resnext50-32x4d_4xb64_in1k.py': 'rla-resnext50-32x4d',
    'rla-resnext101-32x4d_4xb64_in1k.py': 'rla-resnext101-32x4d',
    'rla-resnet50-unshared_4xb64_in1k.py': 'rlaus_resnet50',
    'rla-resnet50-no-exchange_4xb64_in1k.py': 'rlarh_resnet50',
    'rla-resnet50-convlstm_4xb64_in1k.py': 'rlalstm_resnet50',
    'rla-resnet50-postact_4xb64_in1k.py': 'rlav1p_resnet50',
    **{f'rla-resnet50-v{v}_4xb64_in1k.py': f'rlav{v}_resnet50' for v in range(2, 7)},
    'rla-mobilenet-v2_2xb48_in1k.py': 'dsrla_mobilenetv2_k32',
    'rla-eca-mobilenet-v2_2xb48_in1k.py': 'dsrla_mobilenetv2_k32_eca',
    'resnet50_4xb64_in1k.py': 'resnet50',
    'resnet101_4xb64_in1k.py': 'resnet101',
    'resnet101_2xb64-80e_in1k.py': 'resnet101',
    'ror-resnet101_2xb64_in1k.py': 'ror-resnet101',
    'ror-resnet101-slim_2xb64_in1k.py': 'ror-resnet101s',
    'resnet101-slim_2xb64-80e_in1k.py': 'ror-resnet101s',
}
EXPECTED_PARAMS = {config: COUNTS[name]['params_with_fc'] for config, name in EXPECTED_COUNTS.items()}
# Paper totals in millions (RegNet Table VI: 31.3M; RoR Table 2: ResNeXt-29 34.4M / 8.6M; ResNet-56/110/164
# 2.3M / 4.6M / 6.8M; RLA Table 2: ResNet-110 1.73M + 0.07M, ResNet-164 1.72M + 0.02M).
PAPER_MILLIONS = {
    'rnn-regnet50-convlstm_4xb32_in1k.py': 31.3,
    'ror-resnext29-8x64d_2xb64_cifar10.py': 34.4,
    'ror-resnext29-8x32d_2xb64_cifar10.py': 8.6,
    'ror-resnet56_2xb64_cifar10.py': 2.3,
    'ror-resnet110_2xb64_cifar10.py': 4.6,
    'ror-resnet164_2xb64_cifar10.py': 6.8,
    'rla-resnet110_1xb128_cifar10.py': 1.80,
}


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Single-threaded torch in this module: many small models on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_the_config_set_is_complete():
    names = {osp.relpath(p, osp.join(REPO, 'configs', 'classification')) for p in CLS_CONFIGS}
    for name in (
        'rla/rla-resnet152_4xb64_in1k.py',
        'rla/rla-eca-resnet152_4xb64_in1k.py',
        'rla/rla-resnet164_1xb128_cifar100.py',
        'rnn_regnet/rnn-regnet50-convgru_4xb32_in1k.py',
        'rnn_regnet/se-rnn-regnet20-convlstm_1xb64_cifar10.py',
        'rnn_regnet/rnn-regnet56-convgru_1xb64_cifar100.py',
        'ror/ror-resnet164-slim_2xb64_cifar100.py',
        'ror/se-ror-resnext29-8x64d_2xb64_cifar10.py',
        'resnet/resnet50_4xb32-90e_in1k.py',
        'resnet/resnet110_1xb128_cifar10.py',
        'rla/rla-resnext101-32x4d_4xb64_in1k.py',
        'rla/rla-resnet50-unshared_4xb64_in1k.py',
        'rla/rla-resnet50-no-exchange_4xb64_in1k.py',
        'rla/rla-resnet50-convlstm_4xb64_in1k.py',
        'rla/rla-resnet50-postact_4xb64_in1k.py',
        'rla/rla-resnet50-v6_4xb64_in1k.py',
    ):
        assert name in names
    assert len(CLS_CONFIGS) >= 70


@pytest.mark.parametrize('path', CLS_CONFIGS, ids=lambda p: osp.relpath(p, osp.join(REPO, 'configs', 'classification')))
def test_config_builds_and_classifies(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.model.type == 'ImageClassifier'
    if cfg.model.backbone.type in ('RLAResNet', 'RLAResNeXt', 'RLAMobileNetV2', 'RNNRegNet', 'RoRResNet', 'RoRResNeXt'):
        assert cfg.custom_imports == dict(imports=['mmdet_rla'], allow_failed_imports=False)
    warm_start = (cfg.model.backbone.get('init_cfg') or {}).get('type') == 'ResNetWarmStart'
    if cfg.model.backbone.type in ('RLAResNet', 'RLAResNeXt') and not warm_start:
        # the classifier reads concat(x, h's output); a warm start from a ResNet keeps the ResNet's head on x
        assert cfg.model.backbone.with_rla_output is True
    if cfg.model.backbone.type == 'RLAMobileNetV2':  # the last 1x1 conv, which reads concat(x, act(BN(h)))
        assert tuple(cfg.model.backbone.out_indices) == (7,)
    num_classes = cfg.model.head.num_classes
    assert cfg.data_preprocessor.num_classes == num_classes
    model = MMPRETRAIN_MODELS.build(cfg.model).eval()
    name = osp.basename(path)
    if name in EXPECTED_PARAMS:
        assert n_params(model) == EXPECTED_PARAMS[name]
    if name in PAPER_MILLIONS:
        assert round(n_params(model) / 1e6, 1 if PAPER_MILLIONS[name] > 2 else 2) == PAPER_MILLIONS[name]
    size = 64 if 'in1k' in name else 32
    with torch.no_grad():
        logits = model(torch.rand(1, 3, size, size), mode='tensor')
    assert logits.shape == (1, num_classes)  # also checks head.in_channels against the backbone
    assert_trains_its_norms(model, size, num_classes)


def assert_trains_its_norms(model: torch.nn.Module, size: int, num_classes: int) -> None:
    """mmpretrain's convention, as its own ResNet configs train: after ``model.train()`` every norm is in
    training mode and nothing is frozen, and one training step moves every batch norm's running statistics.

    What the classification configs lacked while they inherited mmdet's ``norm_eval=True``: their norms
    stayed at mean 0 / variance 1 for a whole run, which no accuracy on an easy task revealed.
    """
    from mmengine.optim import OptimWrapper
    from mmpretrain.structures import DataSample

    model.train()
    norms = {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, (torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm, torch.nn.LayerNorm))
    }
    assert norms
    assert [name for name, m in norms.items() if not m.training] == []
    assert [name for name, p in model.named_parameters() if not p.requires_grad] == []
    batch_norms = {name: m for name, m in norms.items() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    before = {name: (m.running_mean.clone(), m.running_var.clone()) for name, m in batch_norms.items()}
    generator = torch.Generator().manual_seed(0)
    data = dict(
        inputs=[torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=generator) for _ in range(2)],
        data_samples=[DataSample().set_gt_label(label) for label in (0, num_classes - 1)],
    )
    optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    losses = model.train_step(data, optim_wrapper)
    assert torch.isfinite(losses['loss'])
    # Moved: counted one batch, and its mean or variance changed (the first state norm of RLA's 'after_recurrence'
    # designs, Table 6 v2/v4/v6, reads h^0 = 0, whose batch mean is exactly the running mean's initial 0).
    unmoved = [
        name
        for name, m in batch_norms.items()
        if int(m.num_batches_tracked) != 1
        or (torch.equal(m.running_mean, before[name][0]) and torch.equal(m.running_var, before[name][1]))
    ]
    assert unmoved == []


@pytest.mark.parametrize('folder', ['rla', 'rnn_regnet', 'ror', 'resnet'])
def test_metafile_lists_every_config_of_its_folder(folder):
    import yaml

    with open(osp.join(REPO, 'configs', 'classification', folder, 'metafile.yml')) as file:
        models = yaml.safe_load(file)['Models']
    configs = {osp.basename(p) for p in CLS_CONFIGS if osp.basename(osp.dirname(p)) == folder}
    assert {osp.basename(m['Config']) for m in models} == configs
    for model in models:
        assert osp.isfile(osp.join(REPO, model['Config']))
        assert model['Name'] == osp.splitext(osp.basename(model['Config']))[0]


def test_ror_classifier_equals_resnet_count_and_loads_its_weights():
    """RoR adds no parameters: an mmpretrain ResNet-101 classifier's weights load into RoR-ResNet-101's."""
    ror = MMPRETRAIN_MODELS.build(
        Config.fromfile(osp.join(REPO, 'configs/classification/ror/ror-resnet101_2xb64_in1k.py')).model
    )
    resnet = MMPRETRAIN_MODELS.build(
        Config.fromfile(osp.join(REPO, 'configs/classification/resnet/resnet101_2xb64-80e_in1k.py')).model
    )
    assert n_params(ror) == n_params(resnet) == COUNTS['ror-resnet101']['params_with_fc']
    missing, unexpected = ror.load_state_dict(resnet.state_dict(), strict=False)
    assert unexpected == []
    assert all(key.endswith('refine_mask') for key in missing)  # RoR's fixed channel masks (buffers)


# ---------------------------------------------------------------------------- the dataset
def test_synthetic_dataset_layout_and_determinism(tmp_path):
    first = generate_cls_dataset(str(tmp_path / 'a'), train_per_class=3, val_per_class=2, seed=5)
    generate_cls_dataset(str(tmp_path / 'b'), train_per_class=3, val_per_class=2, seed=5)
    assert first['classes'] == list(CLASSES) and first['num_train'] == 12 and first['num_val'] == 8
    for split, count in (('train', 3), ('val', 2)):
        for name in CLASSES:
            files = sorted(glob.glob(str(tmp_path / 'a' / split / name / '*.png')))
            assert len(files) == count
            for file in files:
                twin = file.replace(osp.join(str(tmp_path), 'a'), osp.join(str(tmp_path), 'b'))
                assert open(file, 'rb').read() == open(twin, 'rb').read()
    assert (tmp_path / 'a' / 'classes.txt').read_text().split() == list(CLASSES)
    # mmpretrain's CustomDataset reads the layout with the same label order.
    from mmpretrain.datasets import CustomDataset

    dataset = CustomDataset(data_root=str(tmp_path / 'a'), data_prefix='train', pipeline=[])
    assert list(dataset.CLASSES) == list(CLASSES) and len(dataset) == 12


def test_pattern_images_differ_in_structure_not_colour():
    rng = np.random.default_rng(0)
    image = make_pattern_image('hstripes', rng, 48)
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8
    # Horizontal stripes vary along rows, hardly along columns.
    assert np.abs(np.diff(image.astype(float), axis=0)).mean() > 2 * np.abs(np.diff(image.astype(float), axis=1)).mean()


@pytest.mark.parametrize(
    'kwargs,match',
    [
        (dict(train_per_class=0), 'train_per_class'),
        (dict(image_size=8), 'image_size'),
        (dict(classes=['hexagon']), 'classes'),
        (dict(classes=[]), 'classes'),
    ],
)
def test_synthetic_dataset_argument_errors(kwargs, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        generate_cls_dataset(str(tmp_path), **kwargs)


# --------------------------------------------------------------- the demo through the tools
@pytest.fixture(scope='module')
def demo_run(tmp_path_factory, subprocess_env):
    """Generate the dataset (CLI), train the demo config (tools/train.py), test it (tools/test.py)."""
    root = tmp_path_factory.mktemp('cls_demo')
    data, work = str(root / 'data'), str(root / 'work')
    done = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/misc/make_cls_dataset.py'), data, '--seed', '0'],
        capture_output=True,
        text=True,
        env=subprocess_env,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    options = ['--cfg-options'] + [f'{split}_dataloader.dataset.data_root={data}' for split in ('train', 'val', 'test')]
    done = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/train.py'), DEMO_CONFIG, '--work-dir', work] + options,
        capture_output=True,
        text=True,
        env=subprocess_env,
        cwd=REPO,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    checkpoint = osp.join(work, f'epoch_{DEMO_EPOCHS}.pth')
    test_dir = str(root / 'test')
    done = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools/test.py'), DEMO_CONFIG, checkpoint, '--work-dir', test_dir] + options,
        capture_output=True,
        text=True,
        env=subprocess_env,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(work=work, checkpoint=checkpoint, test_dir=test_dir)


def read_json_lines(pattern: str) -> list:
    files = sorted(glob.glob(pattern))
    assert files, pattern
    with open(files[-1]) as file:
        return [json.loads(line) for line in file if line.strip()]


def test_demo_learns_far_above_chance(demo_run):
    train_log = read_json_lines(osp.join(demo_run['work'], '*', 'vis_data', 'scalars.json'))
    losses = [entry['loss'] for entry in train_log if 'loss' in entry]
    assert losses[-1] < 0.5 * losses[0]  # from about ln 4 = 1.39
    test_metrics = read_json_lines(osp.join(demo_run['test_dir'], '*', '*.json'))[-1]
    # 4 balanced classes: chance is 25%; measured 100% (seed 0).
    assert test_metrics['accuracy/top1'] >= 75.0


# Imported by every process of the distributed test below (a sitecustomize module on PYTHONPATH): records which
# process writes which file through mmengine's LoggerHook, which calls this module-level `dump`.
RECORD_LOGGER_DUMPS = """
import os
import mmengine.hooks.logger_hook as logger_hook

_dump = logger_hook.dump


def _recorded_dump(obj, file=None, *args, **kwargs):
    with open(os.path.join(os.environ['DUMP_RECORDS'], 'rank' + os.environ.get('RANK', '-')), 'a') as record:
        record.write(str(file) + '\\n')
    return _dump(obj, file, *args, **kwargs)


logger_hook.dump = _recorded_dump
"""


def test_distributed_test_of_the_demo_checkpoint(demo_run, tmp_path, subprocess_env):
    """tools/dist_test.sh: 2 processes (gloo on CPU) evaluate the same checkpoint, metrics gathered.

    The metrics file is written by rank 0 alone: with mmengine's own LoggerHook both ranks write it at
    once and it came out corrupt once in CI (``MainProcessLoggerHook``).
    """
    with socket.socket() as probe:  # a free port for torchrun's rendezvous
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    instrumentation, records = tmp_path / 'instrumentation', tmp_path / 'dumps'
    instrumentation.mkdir()
    records.mkdir()
    (instrumentation / 'sitecustomize.py').write_text(RECORD_LOGGER_DUMPS)
    env = dict(
        subprocess_env,
        PORT=str(port),
        DUMP_RECORDS=str(records),
        PYTHONPATH=osp.pathsep.join(filter(None, [str(instrumentation), subprocess_env.get('PYTHONPATH')])),
    )
    data = osp.join(osp.dirname(demo_run['work']), 'data')
    work_dir = tmp_path / 'work'
    done = subprocess.run(
        [
            'bash',
            osp.join(REPO, 'tools/dist_test.sh'),
            DEMO_CONFIG,
            demo_run['checkpoint'],
            '2',
            '--work-dir',
            str(work_dir),
            '--cfg-options',
            f'test_dataloader.dataset.data_root={data}',
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics_files = glob.glob(osp.join(str(work_dir), '*', '*.json'))
    assert len(metrics_files) == 1
    assert sorted(path.name for path in records.iterdir()) == ['rank0']  # the instrumentation ran, in rank 0 only
    assert (records / 'rank0').read_text().split() == metrics_files
    metrics = read_json_lines(metrics_files[0])[-1]
    single = read_json_lines(osp.join(demo_run['test_dir'], '*', '*.json'))[-1]
    assert metrics['accuracy/top1'] == single['accuracy/top1']  # all 80 images, counted once


# ------------------------------------------------------- classification -> detection weights
def test_runner_checkpoint_of_the_demo_initialises_a_detector_backbone(demo_run):
    """tools/train.py's checkpoint -> RetinaNet with the same tiny RLA backbone, loaded by init_cfg."""
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmdet.utils import register_all_modules as register_mmdet

    from mmdet_rla.tools_support.checkpoint import allow_runner_checkpoints

    register_mmdet(init_default_scope=False)
    allow_runner_checkpoints()  # what tools/train.py does: weights_only loads of our Runner checkpoints
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'rla', 'retinanet_rla-r50_fpn_1x_coco.py'))
    cls_backbone = Config.fromfile(DEMO_CONFIG).model.backbone
    cfg.model.backbone = dict(
        cls_backbone,
        with_rla_output=False,
        out_indices=(0, 1, 2),
        init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=demo_run['checkpoint']),
    )
    cfg.model.neck.update(in_channels=[8, 16, 32], start_level=0)
    detector = MMDET_MODELS.build(cfg.model)
    detector.init_weights()  # Pretrained: every tensor of the backbone must come from the file

    (report,) = detector.backbone.checkpoint_reports
    assert report.kind == 'Pretrained' and not report.fresh
    # The classifier's extra parts, unused by a detector: the last update's norm and the output norm.
    assert {k.rsplit('.', 1)[0] for k in report.unused} == {'layer3.norms.2', 'layer3.output_norm'}
    weights = torch.load(demo_run['checkpoint'], map_location='cpu', weights_only=True)['state_dict']
    for key, value in detector.backbone.state_dict().items():
        assert torch.equal(value, weights['backbone.' + key]), key


def test_imagenet_classifier_checkpoint_initialises_the_rla_detector_configs(tmp_path):
    """configs/classification/rla/rla-resnet50 weights -> configs/rla/retinanet_rla-r50 (prefix='backbone.')."""
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmdet.utils import register_all_modules as register_mmdet

    register_mmdet(init_default_scope=False)
    cls_cfg = Config.fromfile(osp.join(REPO, 'configs', 'classification', 'rla', 'rla-resnet50_4xb64_in1k.py'))
    det_cfg = Config.fromfile(osp.join(REPO, 'configs', 'rla', 'retinanet_rla-r50_fpn_1x_coco.py'))
    # Both sides compute the same RLA path, so the weights mean the same thing.
    assert cls_cfg.model.backbone.rla_input == det_cfg.model.backbone.rla_input

    classifier = MMPRETRAIN_MODELS.build(cls_cfg.model).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # random weights and BN statistics, so that a mixed-up tensor would show
        for name, tensor in classifier.state_dict().items():
            if name.endswith('running_var'):
                tensor.uniform_(0.5, 2.0, generator=generator)
            elif name.endswith('weight') and tensor.dim() == 1:
                tensor.uniform_(0.1, 0.4, generator=generator)
            elif tensor.is_floating_point():
                tensor.normal_(0, 0.05, generator=generator)
    path = str(tmp_path / 'rla-resnet50_in1k.pth')
    torch.save(
        {
            'meta': {'note': 'trained with configs/classification/rla/rla-resnet50_4xb64_in1k.py'},
            'state_dict': classifier.state_dict(),
        },
        path,
    )

    det_cfg.model.backbone.init_cfg = dict(type='Pretrained', prefix='backbone.', checkpoint=path)
    detector = MMDET_MODELS.build(det_cfg.model)
    detector.init_weights()
    (report,) = detector.backbone.checkpoint_reports
    assert report.kind == 'Pretrained' and not report.fresh
    assert {k.rsplit('.', 1)[0] for k in report.unused} == {'layer4.norms.2', 'layer4.output_norm'}
    for key, value in detector.backbone.state_dict().items():
        assert torch.equal(value, classifier.backbone.state_dict()[key]), key

    # Same features: the detector's stage outputs are the classifier backbone's (before the concat of h).
    detector.backbone.eval()
    images = torch.rand(1, 3, 96, 80, generator=generator)
    with torch.no_grad():
        detector_outs = detector.backbone(images)
        classifier_out = classifier.backbone(images)[-1]
    assert torch.equal(detector_outs[-1], classifier_out[:, :2048])


def test_warm_start_demo_starts_as_its_resnet_and_validates_before_training(synthetic_patterns, tmp_path):
    """configs/classification/_demo_/*-warmstart*: the RLA and RegNet classifiers started from a ResNet-20
    classifier's checkpoint (backbone by ResNetWarmStart, head by Pretrained) give its logits, and
    ValidateBeforeTrainHook records their accuracy at step 0 (tools/run_warmstart_demo.sh)."""
    from mmengine.runner import Runner

    demo = osp.join(REPO, 'configs', 'classification', '_demo_')
    resnet = MMPRETRAIN_MODELS.build(Config.fromfile(osp.join(demo, 'resnet20-tiny_1xb16_synthetic-patterns.py')).model)
    resnet.init_weights()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # trained-looking statistics: a norm that is not an exact identity would show
        for name, tensor in resnet.state_dict().items():
            if name.endswith(('running_mean', 'running_var')):
                tensor.uniform_(0.5, 1.5, generator=generator)
    checkpoint = str(tmp_path / 'resnet20.pth')
    torch.save({'meta': {}, 'state_dict': resnet.state_dict()}, checkpoint)
    images = torch.rand(4, 3, 32, 32, generator=generator)
    with torch.no_grad():
        expected = resnet.eval()(images, mode='tensor')
    for name in ('rla-resnet20-tiny', 'rnn-regnet20-lstm-tiny'):
        cfg = Config.fromfile(osp.join(demo, f'{name}-warmstart_1xb16_synthetic-patterns.py'))
        cfg.merge_from_dict(
            {'model.backbone.init_cfg.checkpoint': checkpoint, 'model.head.init_cfg.checkpoint': checkpoint}
        )
        model = MMPRETRAIN_MODELS.build(cfg.model)
        model.init_weights()
        with torch.no_grad():
            torch.testing.assert_close(model.eval()(images, mode='tensor'), expected, rtol=1e-6, atol=1e-6)
    # One epoch of the RegNet one through mmengine's Runner: a validation before the first step, at step 0.
    for split in ('train', 'val', 'test'):
        cfg.merge_from_dict({f'{split}_dataloader.dataset.data_root': synthetic_patterns})
    cfg.merge_from_dict({'train_cfg.max_epochs': 1, 'work_dir': str(tmp_path / 'work'), 'randomness.seed': 0})
    Runner.from_cfg(cfg).train()
    (scalars,) = glob.glob(str(tmp_path / 'work' / '*' / 'vis_data' / 'scalars.json'))
    with open(scalars) as file:
        validations = [json.loads(line) for line in file if 'accuracy/top1' in line]
    assert [entry['step'] for entry in validations] == [0, 1]
