"""The GPU self-test (mmdet_rla.gpu_check) in its CPU mode: ``--device cpu --tiny`` runs every check at
toy sizes, so the script cannot rot while no GPU runs it; the mechanisms (isolation, tolerances,
report files, exit status) are tested on their own."""

import json
import math
import os.path as osp
import subprocess

import pytest
import torch

from mmdet_rla import gpu_check
from mmdet_rla.gpu_check import backbones, detectors, numerics, ops, report, speed

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
pytestmark = pytest.mark.usefixtures('one_torch_thread')


def expected_rows():
    """Every row the full set of sections reports, by name."""
    names = ['ops/nms', 'ops/batched_nms', 'ops/roi_align']
    names += [f'backbone/{f}/float32' for f in backbones.FAMILIES]
    names += [f'backbone/{f}/{amp}' for f in backbones.FAMILIES for amp in ('amp-fp16', 'amp-bf16')]
    names += [f'detector/{d}/{amp}' for d in detectors.DETECTORS for amp in ('amp-fp16', 'amp-bf16')]
    names += [f'compile/{f}' for f in backbones.FAMILIES]
    names += [
        f'speed/{p}/{mode}/{variant}'
        for p in speed.PRESETS
        for variant in ('eager', 'compiled')
        for mode in ('train', 'eval')
    ]
    return names


INJECTED = 'ops/batched_nms'


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    """One ``--device cpu --tiny`` run of every section, with one check broken on purpose (it raises)."""
    out = tmp_path_factory.mktemp('gpu_check')

    def broken(context):
        raise RuntimeError('injected failure\nsecond line not shown')

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ops, 'check_batched_nms', broken)
        patch.setenv('OMP_NUM_THREADS', '1')  # the speed section's benchmark process
        import io
        from contextlib import redirect_stdout

        printed = io.StringIO()
        with redirect_stdout(printed):
            status = gpu_check.main(['--device', 'cpu', '--tiny', '--out', str(out)])
    with open(out / 'report.json', encoding='utf-8') as f:
        data = json.load(f)
    return dict(status=status, data=data, printed=printed.getvalue(), markdown=(out / 'report.md').read_text())


def test_tiny_run_reports_every_check_and_all_but_the_broken_one_pass(tiny_run):
    data = tiny_run['data']
    rows = {row['name']: row for row in data['checks']}
    assert list(rows) == expected_rows()
    failed = [name for name, row in rows.items() if row['status'] != 'pass']
    assert failed == [INJECTED], {name: rows[name]['reason'] for name in failed}
    # The broken check is reported with the one-line reason, and everything after it still ran.
    assert rows[INJECTED]['reason'] == 'RuntimeError: injected failure'
    assert 'Traceback' in rows[INJECTED]['details']['traceback']
    assert tiny_run['status'] == 1
    assert (
        data['finished'] and not data['all_passed'] and data['counts'] == {'pass': len(rows) - 1, 'fail': 1, 'n/a': 0}
    )
    assert data['settings']['compile_backend'] == 'eager'
    env = data['environment']
    assert env['device'].startswith('cpu = ') and env['torch'] == torch.__version__
    assert env['mmcv'].startswith('2.1.0') and env['TF32 during the checks'] == {'matmul': False, 'cudnn': False}


def test_tiny_run_measures_what_each_section_claims(tiny_run):
    rows = {row['name']: row for row in tiny_run['data']['checks']}
    # Backbones: measured errors within their tolerances, each comparison of each pass recorded.
    row = rows['backbone/rla-r50/float32']
    passes = {(c['pass_name'], c['quantity']) for c in row['details']['comparisons']}
    assert passes == {('inference', 'outputs')} | {
        (p, q) for p in ('eval', 'train') for q in ('outputs', 'input gradient', 'parameter gradients')
    }
    for name in expected_rows():
        if name.startswith(('backbone/', 'compile/')):
            assert 0 <= rows[name]['measured'] <= rows[name]['tolerance'], name
    assert 'graph break' in rows['compile/rnn-regnet50-lstm']['note']
    # Detectors: on the CPU the report says which wrapper and autocast ran, and that memory is not measured.
    for amp, dtype in (('amp-fp16', 'float16'), ('amp-bf16', 'bfloat16')):
        details = rows[f'detector/faster-rcnn_rla-r50/{amp}']['details']
        assert (
            details['wrapper'].startswith('OptimWrapper, backbone and neck under torch.autocast')
            and dtype in details['wrapper']
        )
        assert details['backbone_dtype'] == dtype  # the autocast really reached the backbone's convolutions
        assert details['peak_mib'] is None and math.isfinite(details['losses']['loss'])
    # Speed: figures, every one labelled a smoke run.
    for name in expected_rows():
        if name.startswith('speed/'):
            assert rows[name]['kind'] == 'figure' and rows[name]['note'].startswith('SMOKE RUN'), name


def test_tiny_run_writes_markdown_and_prints_the_table_last(tiny_run):
    markdown = tiny_run['markdown']
    assert '## Environment' in markdown and '## Failures' in markdown
    assert f'- `{INJECTED}`: RuntimeError: injected failure' in markdown
    printed = tiny_run['printed'].rstrip().splitlines()
    assert printed[-1].startswith(f'{len(expected_rows()) - 1} passed, 1 failed')
    table = printed[-len(expected_rows()) - 4 : -2]  # header, rule, rows; then a blank line and the summary
    assert table[0].startswith('| check | result | measured | tolerance |')
    assert [line.split('|')[1].strip(' `') for line in table[2:]] == expected_rows()


def test_wrapper_script_passes_arguments_and_exits_0_when_all_pass(tmp_path, subprocess_env):
    done = subprocess.run(
        [
            'bash',
            osp.join(REPO, 'tools', 'gpu_check.sh'),
            '--device',
            'cpu',
            '--tiny',
            '--only',
            'ops',
            '--out',
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=subprocess_env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads((tmp_path / 'report.json').read_text())
    assert [row['name'] for row in data['checks']] == ['ops/nms', 'ops/batched_nms', 'ops/roi_align']
    assert data['all_passed'] and data['settings']['sections'] == ['ops']
    assert '3 passed, 0 failed' in done.stdout


@pytest.mark.parametrize(
    'argv, message',
    [
        (['--device', 'gpu'], "--device must be 'cpu', 'cuda' or 'cuda:<index>', got 'gpu'"),
        (['--only', 'nosuch'], "argument --only: invalid choice: 'nosuch'"),
        (['--only', 'ops', '--skip', 'ops'], '--only and --skip leave no section to run'),
        (['--reference-code', '/nonexistent/RLANet'], '--reference-code: no such directory: /nonexistent/RLANet'),
        (['--compile-backend', 'nosuch'], 'must be a torch.compile backend'),
    ],
)
def test_bad_arguments_exit_with_a_message_naming_them(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.parse_args(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_cuda_device_is_checked_against_this_machine(capsys):
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(SystemExit):
        gpu_check.parse_args(['--device', f'cuda:{count}'])
    expected = 'no CUDA device is available here' if count == 0 else f'this machine has {count} CUDA device(s)'
    assert expected in capsys.readouterr().err


# ------------------------------------------------------------------------------------ mechanisms
def test_each_check_is_isolated_and_every_failure_kind_is_reported(tmp_path):
    """An exception, a value over its tolerance and a non-finite value each fail their own row only."""
    context = gpu_check.make_context(torch.device('cpu'), tiny=True)
    ran = []

    def record(name, produce):
        def run(ctx):
            ran.append(name)
            return produce(ctx)

        return report.Check(name, 'test', run)

    checks = [
        record('raises', lambda ctx: [][0]),
        record('over', lambda ctx: [report.at_most('over', 2e-3, 1e-3)]),
        record('nan', lambda ctx: [report.at_most('nan', float('nan'), 1e-3)]),
        record('empty', lambda ctx: []),
        record(
            'fine',
            lambda ctx: [
                report.at_most('fine', 1e-4, 1e-3),
                report.figure('figure', 1.5, '1.50'),
                report.figure('absent', None, '—'),
            ],
        ),
    ]
    seen = []
    rows = report.run_checks(checks, context, lambda index, row: seen.append((index, row.name)))
    assert ran == ['raises', 'over', 'nan', 'empty', 'fine']
    assert seen == [(0, 'raises'), (1, 'over'), (2, 'nan'), (3, 'empty'), (4, 'fine'), (4, 'figure'), (4, 'absent')]
    status = {row.name: (row.status, row.reason) for row in rows}
    assert status['raises'] == ('fail', 'IndexError: list index out of range')
    assert status['over'] == ('fail', 'relative error 2.00e-03 exceeds the tolerance 1.00e-03')
    assert status['nan'] == ('fail', 'relative error is nan (not finite)')
    assert status['empty'] == ('fail', 'the check produced no result')
    assert status['fine'][0] == status['figure'][0] == 'pass' and status['absent'][0] == 'n/a'
    report.write_report(str(tmp_path), {'device': 'cpu'}, {'tiny': True}, rows, finished=True, notes=['a note'])
    data = json.loads((tmp_path / 'report.json').read_text())
    assert data['counts'] == {'pass': 2, 'fail': 4, 'n/a': 1} and not data['all_passed']
    assert '- `over`: relative error 2.00e-03 exceeds the tolerance 1.00e-03' in (tmp_path / 'report.md').read_text()


def test_float32_check_fails_on_a_float32_error_above_rounding(monkeypatch):
    """A tanh off by 1e-3 in float32 only (as a TF32 convolution would be) fails the float32 check;
    the unchanged model passes it."""
    import mmdet_rla.models.backbones.rla_resnet as rla_resnet

    context = gpu_check.make_context(torch.device('cpu'), tiny=True)
    (row,) = backbones.check_float32(context, 'rla-r50')
    assert row.status == 'pass' and row.measured < 1e-5
    exact = rla_resnet.tanh

    def imprecise_tanh(x, inplace=False):
        out = exact(x, inplace)
        return out * (1 + 1e-3) if x.dtype == torch.float32 else out

    monkeypatch.setattr(rla_resnet, 'tanh', imprecise_tanh)
    (row,) = backbones.check_float32(context, 'rla-r50')
    assert row.status == 'fail' and 'inference outputs: relative error' in row.reason
    # Autocast: the same model passes, a NaN in the low-precision pass fails it as non-finite.
    (row,) = backbones.check_autocast(context, 'rla-r50', 'amp-bf16')
    assert row.status == 'pass'
    monkeypatch.setattr(
        rla_resnet,
        'tanh',
        lambda x, inplace=False: exact(x, inplace) * (float('nan') if torch.is_autocast_enabled('cpu') else 1.0),
    )
    (row,) = backbones.check_autocast(context, 'rla-r50', 'amp-bf16')
    assert row.status == 'fail' and row.reason.startswith('non-finite values in: inference outputs')


def test_relative_error_and_tf32_switch():
    a = torch.tensor([3.0, 4.0])
    assert numerics.relative_error(a, a) == 0
    assert numerics.relative_error(a + torch.tensor([0.0, 0.5]), a) == pytest.approx(0.1)
    assert numerics.relative_error(torch.tensor([float('inf'), 0.0]), a) == math.inf
    with pytest.raises(ValueError, match='shapes differ'):
        numerics.relative_error(a, a[:1])
    before = numerics.tf32_state()
    with numerics.tf32(True):
        assert numerics.tf32_state() == {'matmul': True, 'cudnn': True}
    assert numerics.tf32_state() == before
    # The tolerances are what the docstring derives: 8 u for autocast outputs, 8 sqrt(u) for gradients.
    for kind in ('amp-fp16', 'amp-bf16'):
        assert numerics.OUTPUT_TOLERANCE[kind] == pytest.approx(8 * numerics.UNIT_ROUNDOFF[kind], rel=0.05)
    for kind in ('amp-fp16', 'amp-bf16'):
        assert numerics.GRADIENT_TOLERANCE[kind] == pytest.approx(8 * numerics.UNIT_ROUNDOFF[kind] ** 0.5, rel=0.05)


def test_nms_differences_count_missing_and_reordered_boxes():
    assert ops._kept_difference(torch.tensor([3, 1, 2]), torch.tensor([3, 1, 2])) == 0
    assert ops._kept_difference(torch.tensor([3, 1]), torch.tensor([3, 1, 2])) == 1
    assert ops._kept_difference(torch.tensor([1, 3, 2]), torch.tensor([3, 1, 2])) == 2
    boxes, scores = ops.clustered_boxes(200, (100, 120))
    assert boxes.shape == (200, 4) and bool((boxes[:, 2:] > boxes[:, :2]).all())
    assert len(set(scores.tolist())) == 200


def test_reference_detectors_take_mmdets_backbone_with_the_same_settings():
    cfg = detectors.load_config('mask-rcnn_rnn-regnet50-lstm')
    reference = detectors.reference_backbone(dict(cfg.model.backbone), 'ResNet')
    assert reference == dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        style='pytorch',
        norm_cfg=dict(type='BN', requires_grad=True),
        frozen_stages=1,
        norm_eval=True,
        init_cfg=None,
    )  # the config's fine-tuning settings, not its family's arguments
    grouped = detectors.reference_backbone(
        dict(type='RoRResNeXt', depth=101, groups=32, base_width=4, refine_drop_rate=0.2), 'ResNet'
    )
    assert grouped == dict(type='ResNeXt', depth=101, groups=32, base_width=4, init_cfg=None)
    ssd = detectors.load_config('ssdlite_rla-mobilenetv2')
    reference = detectors.reference_backbone(dict(ssd.model.backbone), 'MobileNetV2')
    assert reference['type'] == 'MobileNetV2' and reference['out_indices'] == (4, 7)
    assert 'rla_channels' not in reference and 'recurrent_conv' not in reference


def test_list_prints_the_checks_of_the_sections(capsys):
    assert gpu_check.main(['--device', 'cpu', '--list', '--only', 'detectors', 'speed']) == 0
    listed = [line.split()[1] for line in capsys.readouterr().out.splitlines()]
    assert listed == [name for name in expected_rows() if name.startswith('detector/')] + [
        f'speed/{p}' for p in speed.PRESETS
    ]  # a GPU run times each backbone in its own process
    assert speed.TOOL == ('-m', 'mmdet_rla.cli.benchmark_backbone')  # runs installed too, not only from a checkout
