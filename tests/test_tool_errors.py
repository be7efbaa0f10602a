"""Bad input to the command-line tools ends in one ``error:`` line naming what is wrong, not a traceback."""

import argparse
import io
import os
import os.path as osp
import socket
import subprocess
import urllib.error

import pytest
import torch
from conftest import DEMO_CONFIG, PYTHON, REPO_ROOT

from mmdet_rla.tools_support.arguments import CfgOptions, compile_backend, exit_on_user_error, unit_interval

ROR_DEMO_CONFIG = osp.join(REPO_ROOT, 'configs', '_demo_', 'fcos_ror-r18-tiny_fpn_gn-head_shapes.py')
CLS_DEMO_CONFIG = osp.join(
    REPO_ROOT, 'configs', 'classification', '_demo_', 'rla-resnet20-tiny_1xb16_synthetic-patterns.py'
)
RLA_R50_CONFIG = osp.join(REPO_ROOT, 'configs', 'rla', 'faster-rcnn_rla-r50_fpn_1x_coco.py')


def run_tool(script, *args, cwd, env=None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(('SLURM_', 'OMPI_', 'MMDET_RLA_TRACEBACK'))}
    environment.update(env or {})
    return subprocess.run(
        [PYTHON, osp.join(REPO_ROOT, 'tools', script), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope='module')
def bad_files(tmp_path_factory):
    root = tmp_path_factory.mktemp('bad_files')
    empty = root / 'empty.pth'
    empty.write_bytes(b'')
    not_json = root / 'results.json'
    not_json.write_text('not json')
    archive = io.BytesIO()
    torch.save({'state_dict': {'fc.weight': torch.zeros(4, 4)}}, archive)  # a checkpoint of another model
    foreign = root / 'foreign.pth'
    foreign.write_bytes(archive.getvalue())
    truncated = root / 'truncated.pth'  # as a process killed while writing leaves it
    truncated.write_bytes(archive.getvalue()[: len(archive.getvalue()) * 2 // 3])
    return dict(
        root=str(root), empty=str(empty), not_json=str(not_json), foreign=str(foreign), truncated=str(truncated)
    )


CASES = {
    'unknown device': (
        ('analysis/benchmark_backbone.py', 'ror-r50', '--device', 'gpu'),
        "--device must be 'cpu', 'cuda' or 'cuda:<index>', got 'gpu'",
    ),
    'unknown compile backend': (
        ('analysis/benchmark_deploy.py', 'compile', '--backend', 'nosuch'),
        'argument --backend: must be a torch.compile backend such as',
    ),
    'missing config': (('train.py', '{root}/nope.py'), 'train.py: error: [Errno 2] No such file or directory'),
    'malformed --cfg-options': (
        ('train.py', DEMO_CONFIG, '--cfg-options', 'foo'),
        "--cfg-options: expected key=value pairs such as model.backbone.depth=50, got ['foo']",
    ),
    'launcher without its environment': (
        ('train.py', DEMO_CONFIG, '--launcher', 'slurm', '--work-dir', '{root}/w'),
        "--launcher slurm expects the environment variables ['SLURM_PROCID', "
        "'SLURM_NTASKS', 'SLURM_NODELIST'], which are not set",
    ),
    'empty checkpoint': (
        ('analysis/ror_channels.py', ROR_DEMO_CONFIG, '{empty}', '--out', '{root}/r.png'),
        'is empty (0 bytes)',
    ),
    'truncated checkpoint': (
        ('analysis/ror_channels.py', ROR_DEMO_CONFIG, '{truncated}', '--out', '{root}/r.png'),
        "truncated.pth' is truncated or corrupted",
    ),
    'checkpoint of another model': (
        ('analysis/vis_features.py', ROR_DEMO_CONFIG, '{foreign}', '--img', '{empty}', '--out', '{root}/v.png'),
        'holds no weights of this FCOS: none of its 1 tensors fits one of the model',
    ),
    # An untrained model's init_cfg (vis_features draws one without a checkpoint) naming another model's file.
    'Pretrained file of another model': (
        (
            'analysis/vis_features.py',
            RLA_R50_CONFIG,
            '--img',
            'x.png',
            '--out',
            '{root}/v.png',
            '--cfg-options',
            'model.backbone.init_cfg.checkpoint={foreign}',
        ),
        'fits 0 of the 401 tensors of this RLAResNet-50 by name and shape (conv1, bn1, layer1, layer2, layer3, layer4 '
        "got none); the file holds no ResNet trunk (its first keys: ['fc.weight']).",
    ),
    'opacity out of range': (
        ('analysis/vis_features.py', ROR_DEMO_CONFIG, '--img', 'x.png', '--alpha', '2', '--out', '{root}/v.png'),
        'argument --alpha: must be a number between 0 and 1, got 2',
    ),
    'negative score threshold': (
        ('demo/draw_detections.py', DEMO_CONFIG, '{empty}', '--image', 'x.png', '--score-thr', '-5'),
        'argument --score-thr: must be a number between 0 and 1, got -5',
    ),
    'classifier config to the detection drawer': (
        ('demo/draw_detections.py', CLS_DEMO_CONFIG, '{empty}', '--image', 'x.png'),
        "its model type is 'ImageClassifier', not an mmdet detector",
    ),
    'results that are not json': (
        ('analysis/coco_eval.py', '{not_json}', '{not_json}'),
        'coco_eval.py: error: Expecting value: line 1 column 1',
    ),
    'negative seed': (
        ('misc/make_coco_dataset.py', '{root}/coco', '--seed', '-1'),
        'seed must be an integer in [0, 9223372036854775807], got -1',
    ),
    'no objects per image': (
        ('misc/make_coco_dataset.py', '{root}/coco', '--max-objects', '0'),
        'max_objects must be a positive integer, got 0',
    ),
    'not an onnx file': (('deployment/test_onnx.py', DEMO_CONFIG, '{empty}'), 'is not a model onnxruntime can load'),
    'export to a device onnxruntime lacks': (
        ('deployment/export_onnx.py', DEMO_CONFIG, 'none', '--out', '{root}/m.onnx', '--device', 'gpu'),
        "device must be a torch device such as cpu or cuda:0, got 'gpu'",
    ),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_bad_input_gives_one_error_line(case, bad_files):
    argv, message = CASES[case]
    result = run_tool(*(arg.format(**bad_files) for arg in argv), cwd=bad_files['root'])
    assert result.returncode != 0
    assert 'Traceback' not in result.stderr, result.stderr[-3000:]
    assert message in result.stderr, result.stderr[-3000:]
    assert not osp.exists(osp.join(bad_files['root'], 'm.onnx'))  # export_onnx checks the device first


def test_only_user_errors_lose_their_traceback(monkeypatch):
    with pytest.raises(SystemExit, match=r'^tool: error: depth must be one of \[50\], got 51$'):
        with exit_on_user_error('tool'):
            raise ValueError('depth must be one of [50], got 51')
    with pytest.raises(SystemExit, match=r'^tool: error: Nope is not in the mmdet::model registry'):
        with exit_on_user_error('tool'):
            raise KeyError('Nope is not in the mmdet::model registry. Please check')
    with pytest.raises(SystemExit, match='empty or truncated'):
        with exit_on_user_error('tool'):
            raise EOFError()
    with pytest.raises(
        SystemExit,
        match=r'^tool: error: a download failed \(\[Errno -3\] Temporary failure in name '
        r'resolution\): without network access, put what it fetches in place',
    ):
        with exit_on_user_error('tool'):
            raise urllib.error.URLError(socket.gaierror(-3, 'Temporary failure in name resolution'))
    for bug in (KeyError('state_dict'), RuntimeError('shape mismatch'), TypeError('bad operand')):
        with pytest.raises(type(bug)):
            with exit_on_user_error('tool'):
                raise bug
    monkeypatch.setenv('MMDET_RLA_TRACEBACK', '1')
    with pytest.raises(ValueError):
        with exit_on_user_error('tool'):
            raise ValueError('shown with its traceback')


def test_cfg_options_compile_backend_and_fractions_are_checked_by_the_parser(capsys):
    parser = argparse.ArgumentParser(prog='tool')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptions)
    parser.add_argument('--compile-backend', type=compile_backend, default='inductor')
    parser.add_argument('--alpha', type=unit_interval, default=0.5)
    args = parser.parse_args(
        ['--cfg-options', 'model.backbone.depth=101', 'a=[1,2]', '--compile-backend', 'eager', '--alpha', '1']
    )
    assert args.cfg_options == {'model.backbone.depth': 101, 'a': [1, 2]}
    assert args.compile_backend == 'eager' and args.alpha == 1.0
    assert parser.parse_args(['--alpha', '0']).alpha == 0.0
    for argv, message in (
        (['--cfg-options', 'depth'], '--cfg-options: expected key=value pairs'),
        (['--compile-backend', 'nosuch'], 'argument --compile-backend: must be a torch.compile'),
        (['--alpha', 'nan'], 'argument --alpha: must be a number between 0 and 1, got nan'),
        (['--alpha', '-0.1'], 'argument --alpha: must be a number between 0 and 1, got -0.1'),
        (['--alpha', 'half'], 'argument --alpha: must be a number between 0 and 1, got half'),
    ):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
        assert message in capsys.readouterr().err
