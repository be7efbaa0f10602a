"""The benchmark tool runs and reports counts and ratios (its timings are never asserted)."""

import importlib.util
import json
import os

import pytest
from conftest import COUNTS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_tool():
    path = os.path.join(REPO, 'tools', 'analysis', 'benchmark_backbone.py')
    spec = importlib.util.spec_from_file_location('benchmark_backbone', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reports_rla_r50_counts_and_ratios(tmp_path, capsys):
    tool = load_tool()
    out = tmp_path / 'report.json'
    tool.main(
        [
            'rla-r50',
            '--batch',
            '1',
            '--size',
            '64',
            '--iters',
            '2',
            '--warmup',
            '0',
            '--modes',
            'eval',
            '--no-memory',
            '--json',
            str(out),
        ]
    )
    (report,) = json.loads(out.read_text())
    assert report['reference'] == {'type': 'ResNet', 'depth': 50}
    assert report['model_params'] == COUNTS['rla-resnet50']['params']
    assert report['reference_params'] == COUNTS['resnet50']['params']
    # FLOPs as run: Conv1_s(y) of stages 1-2 folded onto the bottlenecks' narrower conv3 input (at
    # 224x224, batch 1; fold_conv_out): 1.067.
    assert report['model_gflops'] == pytest.approx(COUNTS['rla-resnet50']['macs'] / 1e9, abs=1e-3)
    assert report['reference_gflops'] == pytest.approx(COUNTS['resnet50']['macs'] / 1e9, abs=1e-3)
    (row,) = report['timings']
    assert row['variant'] == 'eager' and row['mode'] == 'eval' and row['iters'] == 2
    assert row['model_s'] > 0 and row['reference_s'] > 0
    assert row['ratio_min'] <= row['ratio_max']
    printed = capsys.readouterr().out
    assert '| GFLOPs (MACs) |' in printed and '| eager | forward |' in printed
    # Literally, as the paper counts: the official code measures 4.4779 / 4.1115 GMACs with its fc
    # layer; without it the ratio is 1.088, the paper's cost of RLA.
    tool.main(
        [
            '--backbone',
            "dict(type='RLAResNet', depth=50, fold_conv_out=False)",
            '--batch',
            '1',
            '--size',
            '64',
            '--iters',
            '1',
            '--warmup',
            '0',
            '--modes',
            'eval',
            '--no-memory',
            '--json',
            str(out),
        ]
    )
    (report,) = json.loads(out.read_text())
    assert report['model_gflops'] == pytest.approx(COUNTS['rla-resnet50']['macs_literal'] / 1e9, abs=1e-3)  # 1.088


def test_memory_is_measured_in_a_fresh_process(tmp_path):
    tool = load_tool()
    out = tmp_path / 'report.json'
    tool.main(
        [
            '--backbone',
            "dict(type='RLAResNet', depth=18)",
            '--batch',
            '2',
            '--size',
            '96',
            '--flops-size',
            '64',
            '--iters',
            '1',
            '--warmup',
            '0',
            '--modes',
            'train',
            '--channels-last',
            '--json',
            str(out),
        ]
    )
    (report,) = json.loads(out.read_text())
    assert report['reference'] == {'type': 'ResNet', 'depth': 18}
    assert [row['variant'] for row in report['timings']] == ['eager', 'eager+channels-last']
    assert all(row['model_peak_mb'] > 0 and row['reference_peak_mb'] > 0 for row in report['timings'])


def test_variants_are_every_combination_and_torchvision_is_a_reference(tmp_path, capsys):
    """--compile/--channels-last/--amp each add a dimension; torchvision's ResNet counts as mmdet's."""
    tool = load_tool()
    out = tmp_path / 'report.json'
    tool.main(
        [
            '--backbone',
            "dict(type='RoRResNet', depth=18, base_channels=8)",
            '--reference',
            'torchvision',
            '--batch',
            '1',
            '--size',
            '64',
            '--flops-size',
            '64',
            '--iters',
            '1',
            '--warmup',
            '0',
            '--modes',
            'eval',
            '--channels-last',
            '--amp',
            'bf16',
            '--no-memory',
            '--json',
            str(out),
        ]
    )
    (report,) = json.loads(out.read_text())
    assert report['reference'] == 'torchvision:depth=18,groups=1,width=64'
    assert [row['variant'] for row in report['timings']] == [
        'eager',
        'eager+amp-bf16',
        'eager+channels-last',
        'eager+channels-last+amp-bf16',
    ]
    # torchvision's ResNet-18 without fc has mmdet ResNet-18's parameters and FLOPs
    assert report['reference_params'] == 11_176_512


def test_compiled_variant_runs(tmp_path):
    tool = load_tool()
    out = tmp_path / 'report.json'
    tool.main(
        [
            '--backbone',
            "dict(type='RLAResNet', depth=18, base_channels=8, rla_channels=4)",
            '--batch',
            '1',
            '--size',
            '32',
            '--flops-size',
            '32',
            '--iters',
            '1',
            '--warmup',
            '1',
            '--modes',
            'eval',
            '--compile',
            '--json',
            str(out),
        ]
    )
    (report,) = json.loads(out.read_text())
    compiled = [row for row in report['timings'] if row['variant'] == 'compiled']
    assert len(compiled) == 1 and 'model_peak_mb' not in compiled[0]  # compile sets the CPU peak: not reported


def test_rejects_unknown_presets_references_and_cifar_stems():
    tool = load_tool()
    with pytest.raises(SystemExit):
        tool.parse_args(['rla-r42'])
    with pytest.raises(SystemExit):
        tool.parse_args(['rla-r50', '--reference', 'timm'])
    with pytest.raises(SystemExit):
        tool.parse_args(['rla-r50', '--amp', 'fp8'])
    with pytest.raises(ValueError, match='stem_type'):
        tool.reference_of(dict(type='RLAResNet', depth=20, stem_type='cifar'))
    with pytest.raises(ValueError, match='--reference'):
        tool.reference_of(dict(type='RLAResNet', depth=50), 'timm')


@pytest.mark.parametrize(
    'argv, message',
    [
        (['ror-r50', '--device', 'gpu'], "--device must be 'cpu', 'cuda' or 'cuda:<index>', got 'gpu'"),
        (['ror-r50', '--warmup', '-1'], 'argument --warmup: must be an integer >= 0, got -1'),
        (['--backbone', "dict(type='RLAResNet', depth=)"], '--backbone must be a dict literal'),
        (['--backbone', "dict(type='RLAResNet', depth=20, stem_type='cifar')"], "got stem_type='cifar'"),
    ],
)
def test_bad_arguments_exit_with_a_message_naming_them(argv, message, capsys):
    tool = load_tool()
    with pytest.raises(SystemExit):
        tool.parse_args(argv)
    assert message in capsys.readouterr().err


def test_cuda_device_is_checked_against_this_machine(capsys):
    tool = load_tool()
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(SystemExit):
        tool.parse_args(['ror-r50', '--device', f'cuda:{count}'])
    expected = 'no CUDA device is available here' if count == 0 else f'this machine has {count} CUDA device(s)'
    assert expected in capsys.readouterr().err
    assert tool.parse_args(['ror-r50', '--device', 'cpu']).configs == [tool.PRESETS['ror-r50']]


def test_backbones_that_cannot_be_built_exit_with_the_builders_message():
    tool = load_tool()
    with pytest.raises(SystemExit, match=r"cannot build \{'type': 'Nope', 'depth': 50\}: Nope is not in"):
        with tool.exit_on_user_error():
            tool.build_checked(dict(type='Nope', depth=50))
    with pytest.raises(SystemExit, match=r'depth must be one of \[18, 34, 50, 101, 152\], got 51'):
        with tool.exit_on_user_error():
            tool.build_checked(dict(type='RLAResNet', depth=51))


def test_deployment_benchmark_reports_the_medians_of_interleaved_runs():
    path = os.path.join(REPO, 'tools', 'analysis', 'benchmark_deploy.py')
    spec = importlib.util.spec_from_file_location('benchmark_deploy', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    args = tool.parse_args(['onnx', 'compile', '--iters', '3', '--warmup', '1'])
    calls = []
    times = tool.median_times(
        {'eager': lambda: calls.append('eager'), 'compiled': lambda: calls.append('compiled')}, args
    )
    assert calls == ['eager', 'compiled'] * 4  # one warm-up, then 3 timed iterations, alternating
    assert sorted(times) == ['compiled', 'eager'] and all(isinstance(t, float) and t >= 0 for t in times.values())
    reports = [
        dict(
            benchmark='onnx',
            case='demo',
            shape=[160, 160],
            pytorch_network=0.02,
            onnxruntime_network=0.01,
            pytorch_end_to_end=0.04,
            onnxruntime_end_to_end=0.03,
        ),
        dict(benchmark='compile', case='train step', eager_s=times['eager'] + 1.0, compiled_s=0.5, first_calls_s=30.0),
    ]
    table = tool.format_reports(reports, args)
    assert '| demo | 160x160 | 0.0200 | 0.0100 | 0.50 | 0.0400 | 0.0300 | 0.75 |' in table
    assert '| train step |' in table and '| 30 |' in table
    for argv in (['--iters', '0'], ['--warmup', '-1'], ['--threads', '0'], ['--backend', 'nosuch']):
        with pytest.raises(SystemExit):
            tool.parse_args(argv)


def test_variants_are_parsed_from_their_names():
    tool = load_tool()
    names = ['eager', 'eager+channels-last', 'compiled+amp-fp16', 'compiled+channels-last+amp-bf16']
    assert [tool.Variant.parse(name).name for name in names] == names
    assert tool.Variant.parse('compiled+channels-last+amp-bf16') == tool.Variant(True, True, 'bf16')
    named = ['eager+channels-last+amp-bf16', 'compiled+channels-last+amp-bf16']
    assert [v.name for v in tool.variants_of(tool.parse_args(['rla-r50', '--variants', *named]))] == named


@pytest.mark.parametrize(
    'argv, message',
    [
        (['rla-r50', '--variants', 'channels-last+eager'], "--variants: a variant is 'eager' or 'compiled'"),
        (['rla-r50', '--variants', 'eager+amp-fp8'], '--variants: a variant is'),
        (['rla-r50', '--variants', 'eager', '--compile'], '--variants names the variants itself'),
        (['rla-r50', '--compile-backend', 'nosuch'], 'must be a torch.compile backend'),
        (['rla-r50', '--reference-code', '/nonexistent/RLANet'], '--reference-code: no such directory'),
    ],
)
def test_bad_variants_and_reference_code_exit_with_a_message(argv, message, capsys):
    tool = load_tool()
    with pytest.raises(SystemExit):
        tool.parse_args(argv)
    assert message in capsys.readouterr().err


# A stand-in for the RLA-Net authors' repository layout (not their code): models/resnet_rla.py with an
# rla_resnet50() that prints, imports a sibling module relatively and hard-codes the state's device as theirs does.
FAKE_RESNET_RLA = """import torch
from torch import nn

from .helper import double


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        h = torch.zeros(x.shape[0], 4, x.shape[2], x.shape[3],
                        device=torch.device('cuda' if torch.cuda.is_available() else 'cpu'))
        x = self.bn(self.conv(x)) + h
        return self.fc(double(x).mean((2, 3)))


def rla_resnet50():
    print('Constructing rla_resnet50......')
    return Net()
"""


@pytest.fixture(scope='module')
def fake_rlanet(tmp_path_factory):
    """A checkout and a bare git mirror of the stand-in."""
    import subprocess

    root = tmp_path_factory.mktemp('rlanet')
    checkout = root / 'RLANet'
    (checkout / 'models').mkdir(parents=True)
    (checkout / 'models' / 'resnet_rla.py').write_text(FAKE_RESNET_RLA)
    (checkout / 'models' / 'helper.py').write_text('def double(x):\n    return 2 * x\n')
    (checkout / 'models' / '__init__.py').write_text("raise ImportError('their __init__ must not be imported')\n")
    git = ['git', '-c', 'user.name=test', '-c', 'user.email=test@example.com']
    subprocess.run(git + ['init', '-q', str(checkout)], check=True)
    subprocess.run(git + ['-C', str(checkout), 'add', '-A'], check=True)
    subprocess.run(git + ['-C', str(checkout), 'commit', '-qm', 'stand-in'], check=True)
    mirror = root / 'mirror.git'
    subprocess.run(['git', 'clone', '-q', '--bare', str(checkout), str(mirror)], check=True)
    return dict(checkout=str(checkout), mirror=str(mirror))


@pytest.mark.parametrize('kind', ['checkout', 'mirror'])
def test_reference_code_is_imported_from_a_checkout_or_mirror_with_the_device_patched(fake_rlanet, kind, capsys):
    import torch

    from mmdet_rla.tools_support.rlanet_code import authors_model, load_models_module

    module, patched = load_models_module(fake_rlanet[kind])
    assert patched == {'models/resnet_rla.py': 1, 'models/helper.py': 0}
    assert module.__file__.endswith('models/resnet_rla.py') and module.__name__.startswith('_rlanet_reference_code_')
    model = authors_model(fake_rlanet[kind])
    assert model(torch.rand(2, 3, 8, 8)).shape == (2, 10)
    captured = capsys.readouterr()
    assert 'Constructing' in captured.err and 'Constructing' not in captured.out  # their print kept off stdout


def test_device_patch_replaces_both_forms_the_authors_use():
    from mmdet_rla.tools_support.rlanet_code import patch_device

    source, count = patch_device(
        "a = torch.zeros(1, device='cuda')\n"
        "b = torch.zeros(1, device=torch.device('cuda' if torch.cuda.is_available() else 'cpu'))\n"
    )
    assert count == 2 and source.count('device=x.device') == 2 and 'cuda' not in source


def test_reference_code_is_timed_with_rla_resnet50_configs(fake_rlanet, tmp_path, capsys):
    tool = load_tool()
    out = tmp_path / 'report.json'
    one_stage = 'depth=50, base_channels=8, num_stages=1, strides=(1,), dilations=(1,), out_indices=(0,)'
    tool.main(
        [
            '--backbone',
            f"dict(type='RLAResNet', rla_channels=8, {one_stage})",
            '--reference',
            f"dict(type='ResNet', {one_stage})",
            '--batch',
            '2',
            '--size',
            '32',
            '--flops-size',
            '32',
            '--iters',
            '2',
            '--warmup',
            '0',
            '--modes',
            'train',
            'eval',
            '--no-memory',
            '--reference-code',
            fake_rlanet['mirror'],
            '--json',
            str(out),
        ]
    )
    (report,) = json.loads(out.read_text())
    assert report['authors'].startswith('rla_resnet50 from') and report['authors_norm_eval'] is True
    assert report['authors_params'] == 3 * 4 * 9 + 4 + 2 * 4 + 4 * 10 + 10
    assert report['timing'] == 'time.perf_counter' and report['device_name'] == 'cpu'
    for row in report['timings']:
        assert row['authors_s'] > 0 and row['ours_vs_authors_min'] <= row['ours_vs_authors_max']
    assert "The authors' rla_resnet50 from" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        tool.parse_args(['ror-r50', '--reference-code', fake_rlanet['checkout']])
    assert "the authors' rla_resnet50 is timed with an RLA-ResNet-50 config" in capsys.readouterr().err


def test_norm_eval_keeps_a_models_norms_in_eval_mode_while_training():
    import torch

    tool = load_tool()
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    run = tool.step_fn(model, torch.rand(2, 3, 8, 8), 'train', norm_eval=True)
    run()
    assert model.training and not model[1].training and int(model[1].num_batches_tracked) == 0
    tool.step_fn(model, torch.rand(2, 3, 8, 8), 'train')()
    assert model[1].training and int(model[1].num_batches_tracked) == 1
    assert tool.time_call(run, torch.device('cpu')) > 0
