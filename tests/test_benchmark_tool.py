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
    tool.main(['rla-r50', '--batch', '1', '--size', '64', '--iters', '2', '--warmup', '0',
               '--modes', 'eval', '--no-memory', '--json', str(out)])
    (report, ) = json.loads(out.read_text())
    assert report['reference'] == {'type': 'ResNet', 'depth': 50}
    assert report['model_params'] == COUNTS['rla-resnet50']['params']
    assert report['reference_params'] == COUNTS['resnet50']['params']
    # FLOPs as run: Conv1_s(y) of stages 1-2 folded onto the bottlenecks' narrower conv3 input (at
    # 224x224, batch 1; fold_conv_out): 1.067.
    assert report['model_gflops'] == pytest.approx(COUNTS['rla-resnet50']['macs'] / 1e9, abs=1e-3)
    assert report['reference_gflops'] == pytest.approx(COUNTS['resnet50']['macs'] / 1e9, abs=1e-3)
    (row, ) = report['timings']
    assert row['variant'] == 'eager' and row['mode'] == 'eval' and row['iters'] == 2
    assert row['model_s'] > 0 and row['reference_s'] > 0
    assert row['ratio_min'] <= row['ratio_max']
    printed = capsys.readouterr().out
    assert '| GFLOPs (MACs) |' in printed and '| eager | forward |' in printed
    # Literally, as the paper counts: the official code measures 4.4779 / 4.1115 GMACs with its fc
    # layer; without it the ratio is 1.088, the paper's cost of RLA.
    tool.main(['--backbone', "dict(type='RLAResNet', depth=50, fold_conv_out=False)", '--batch', '1', '--size', '64',
               '--iters', '1', '--warmup', '0', '--modes', 'eval', '--no-memory', '--json', str(out)])
    (report, ) = json.loads(out.read_text())
    assert report['model_gflops'] == pytest.approx(COUNTS['rla-resnet50']['macs_literal'] / 1e9, abs=1e-3)  # 1.088


def test_memory_is_measured_in_a_fresh_process(tmp_path):
    tool = load_tool()
    out = tmp_path / 'report.json'
    tool.main(['--backbone', "dict(type='RLAResNet', depth=18)", '--batch', '2', '--size', '96',
               '--flops-size', '64', '--iters', '1', '--warmup', '0', '--modes', 'train',
               '--channels-last', '--json', str(out)])
    (report, ) = json.loads(out.read_text())
    assert report['reference'] == {'type': 'ResNet', 'depth': 18}
    assert [row['variant'] for row in report['timings']] == ['eager', 'eager+channels-last']
    assert all(row['model_peak_mb'] > 0 and row['reference_peak_mb'] > 0 for row in report['timings'])


def test_variants_are_every_combination_and_torchvision_is_a_reference(tmp_path, capsys):
    """--compile/--channels-last/--amp each add a dimension; torchvision's ResNet counts as mmdet's."""
    tool = load_tool()
    out = tmp_path / 'report.json'
    tool.main(['--backbone', "dict(type='RoRResNet', depth=18, base_channels=8)", '--reference', 'torchvision',
               '--batch', '1', '--size', '64', '--flops-size', '64', '--iters', '1', '--warmup', '0',
               '--modes', 'eval', '--channels-last', '--amp', 'bf16', '--no-memory', '--json', str(out)])
    (report, ) = json.loads(out.read_text())
    assert report['reference'] == 'torchvision:depth=18,groups=1,width=64'
    assert [row['variant'] for row in report['timings']] == [
        'eager', 'eager+amp-bf16', 'eager+channels-last', 'eager+channels-last+amp-bf16']
    # torchvision's ResNet-18 without fc has mmdet ResNet-18's parameters and FLOPs
    assert report['reference_params'] == 11_176_512


def test_compiled_variant_runs(tmp_path):
    tool = load_tool()
    out = tmp_path / 'report.json'
    tool.main(['--backbone', "dict(type='RLAResNet', depth=18, base_channels=8, rla_channels=4)",
               '--batch', '1', '--size', '32', '--flops-size', '32', '--iters', '1', '--warmup', '1',
               '--modes', 'eval', '--compile', '--json', str(out)])
    (report, ) = json.loads(out.read_text())
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


@pytest.mark.parametrize('argv, message', [
    (['ror-r50', '--device', 'gpu'], "--device must be 'cpu', 'cuda' or 'cuda:<index>', got 'gpu'"),
    (['ror-r50', '--warmup', '-1'], 'argument --warmup: must be an integer >= 0, got -1'),
    (['--backbone', "dict(type='RLAResNet', depth=)"], '--backbone must be a dict literal'),
    (['--backbone', "dict(type='RLAResNet', depth=20, stem_type='cifar')"], "got stem_type='cifar'"),
])
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
    times = tool.median_times({'eager': lambda: calls.append('eager'), 'compiled': lambda: calls.append('compiled')},
                              args)
    assert calls == ['eager', 'compiled'] * 4  # one warm-up, then 3 timed iterations, alternating
    assert sorted(times) == ['compiled', 'eager'] and all(isinstance(t, float) and t >= 0 for t in times.values())
    reports = [
        dict(benchmark='onnx', case='demo', shape=[160, 160], pytorch_network=0.02, onnxruntime_network=0.01,
             pytorch_end_to_end=0.04, onnxruntime_end_to_end=0.03),
        dict(benchmark='compile', case='train step', eager_s=times['eager'] + 1.0, compiled_s=0.5, first_calls_s=30.0),
    ]
    table = tool.format_reports(reports, args)
    assert '| demo | 160x160 | 0.0200 | 0.0100 | 0.50 | 0.0400 | 0.0300 | 0.75 |' in table
    assert '| train step |' in table and '| 30 |' in table
    for argv in (['--iters', '0'], ['--warmup', '-1'], ['--threads', '0'], ['--backend', 'nosuch']):
        with pytest.raises(SystemExit):
            tool.parse_args(argv)
