"""The tools layer: train/test/resume/distributed runs, mmdet's own train script, COCO evaluation,
the checkpoint-loading policy, the CPU distributed set-up and the synthetic dataset generator.

Everything real: mmengine's Runner in subprocesses, pycocotools, torch.distributed with gloo.
"""

import importlib.util
import json
import os
import os.path as osp
import pickle
import re
import socket
import subprocess
from typing import Dict, List

import numpy as np
import pytest
import torch
from conftest import DEMO_CONFIG, PYTHON, REPO_ROOT
from mmengine.config import Config

from mmdet_rla.datasets.synthetic_coco import CLASSES, generate_coco_dataset, generate_split
from mmdet_rla.tools_support.checkpoint import allow_runner_checkpoints
from mmdet_rla.tools_support.coco_eval import evaluate, load_results_pickle
from mmdet_rla.tools_support.launch import setup_distributed, teardown_distributed

TOOLS = osp.join(REPO_ROOT, 'tools')


def run_tool(args: List[str], env: Dict[str, str], cwd: str = REPO_ROOT) -> str:
    """Run a command to completion; fail with the end of its output if it fails. Returns the output."""
    proc = subprocess.run(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900
    )
    assert proc.returncode == 0, f'{" ".join(args[:3])} ... failed:\n{proc.stdout[-6000:]}'
    return proc.stdout


def load_tool(relative_path: str):
    """Import a script of tools/ as a module (its main(argv) runs in this process)."""
    path = osp.join(TOOLS, relative_path)
    spec = importlib.util.spec_from_file_location(osp.splitext(osp.basename(path))[0] + '_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def scalars(work_dir: str) -> List[dict]:
    """The training entries of every scalars.json under ``work_dir``."""
    entries = []
    for run in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, run, 'vis_data', 'scalars.json')
        if osp.isfile(path):
            with open(path) as f:
                entries += [e for e in map(json.loads, f) if 'loss' in e]
    return entries


@pytest.fixture(scope='module')
def trained_run(tmp_path_factory, tiny_demo_options, subprocess_env) -> Dict[str, str]:
    """One epoch (2 iterations) of the demo config through tools/train.py, with CocoMetric validation."""
    work_dir = str(tmp_path_factory.mktemp('train'))
    out = run_tool(
        [PYTHON, osp.join(TOOLS, 'train.py'), DEMO_CONFIG, '--work-dir', work_dir, '--cfg-options', *tiny_demo_options],
        subprocess_env,
    )
    return dict(work_dir=work_dir, checkpoint=osp.join(work_dir, 'epoch_1.pth'), output=out)


# ----------------------------------------------------------------------------- train / test
def test_train_runs_and_validates_with_coco_metric(trained_run):
    out = trained_run['output']
    assert osp.isfile(trained_run['checkpoint'])
    assert 'Epoch(train) [1][2/2]' in out
    assert re.search(r'coco/bbox_mAP: [0-9.]+', out), 'no CocoMetric result in the validation log'
    dumped = Config.fromfile(osp.join(trained_run['work_dir'], osp.basename(DEMO_CONFIG)))
    assert dumped.model.backbone.type == 'RLAResNet'
    assert [e['iter'] for e in scalars(trained_run['work_dir'])] == [1, 2]


def test_test_tool_dumps_results_that_coco_eval_scores_identically(
    trained_run, tiny_demo_options, synthetic_coco, subprocess_env, tmp_path
):
    """tools/test.py loads our checkpoint under weights_only, evaluates, and pickles predictions;
    tools/analysis/coco_eval.py on that pickle reproduces CocoMetric's mAP."""
    out_file = str(tmp_path / 'results.pkl')
    out = run_tool(
        [
            PYTHON,
            osp.join(TOOLS, 'test.py'),
            DEMO_CONFIG,
            trained_run['checkpoint'],
            '--work-dir',
            str(tmp_path),
            '--out',
            out_file,
            '--cfg-options',
            *tiny_demo_options,
        ],
        subprocess_env,
    )
    assert f'Load checkpoint from {trained_run["checkpoint"]}' in out
    logged = float(re.search(r'coco/bbox_mAP: ([0-9.]+)', out).group(1))
    records = load_results_pickle(out_file)
    assert sorted(r['img_id'] for r in records) == [1, 2, 3, 4]
    assert all('gt_instances' not in r and 'pred_instances' in r for r in records)
    # max_per_img=20 <= COCO's 100, so mmdet's maxDets (100, 300, 1000) and COCO's agree.
    metrics = evaluate(out_file, synthetic_coco['val_ann'], ['bbox'], printer=lambda *a: None)
    assert metrics['bbox_mAP'] == pytest.approx(logged, abs=1e-4)


def test_train_tool_rejects_amp_without_an_accelerator(subprocess_env):
    proc = subprocess.run(
        [PYTHON, osp.join(TOOLS, 'train.py'), DEMO_CONFIG, '--amp'],
        env=subprocess_env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    if torch.cuda.is_available():  # the flag is valid there: nothing to check without training
        return
    assert proc.returncode != 0 and '--amp needs a GPU' in proc.stdout


def test_test_tool_rejects_a_non_pickle_out(trained_run, subprocess_env, tmp_path):
    proc = subprocess.run(
        [
            PYTHON,
            osp.join(TOOLS, 'test.py'),
            DEMO_CONFIG,
            trained_run['checkpoint'],
            '--out',
            str(tmp_path / 'results.json'),
        ],
        env=subprocess_env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert '--out must name a .pkl or .pickle file' in proc.stdout


def test_train_and_test_follow_a_classification_config_scope(subprocess_env, tmp_path):
    """The same tools serve mmpretrain configs: the config's default_scope decides."""
    from mmdet_rla.datasets.synthetic_cls import generate_cls_dataset

    data = str(tmp_path / 'patterns')
    generate_cls_dataset(data, train_per_class=4, val_per_class=2, image_size=32, seed=0)
    config = osp.join(REPO_ROOT, 'configs', 'classification', '_demo_', 'rla-resnet20-tiny_1xb16_synthetic-patterns.py')
    options = [
        f'{loader}.dataset.data_root={data}' for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]
    options += ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1']
    work_dir = str(tmp_path / 'work')
    out = run_tool(
        [PYTHON, osp.join(TOOLS, 'train.py'), config, '--work-dir', work_dir, '--cfg-options', *options], subprocess_env
    )
    assert re.search(r'accuracy/top1: [0-9.]+', out)
    out_file = str(tmp_path / 'predictions.pkl')
    out = run_tool(
        [
            PYTHON,
            osp.join(TOOLS, 'test.py'),
            config,
            osp.join(work_dir, 'epoch_1.pth'),
            '--work-dir',
            work_dir,
            '--out',
            out_file,
            '--cfg-options',
            *options,
        ],
        subprocess_env,
    )
    assert re.search(r'accuracy/top1: [0-9.]+', out)
    with open(out_file, 'rb') as f:  # mmengine's DumpResults: one record per validation image
        predictions = pickle.load(f)
    assert len(predictions) == 8 and all('pred_score' in p for p in predictions)


# ----------------------------------------------------------------------------------- resume
def test_resume_continues_from_the_saved_iteration(trained_run, tiny_demo_options, subprocess_env, tmp_path):
    work_dir = str(tmp_path)
    no_val = ['train_cfg.val_interval=10']
    # An explicit checkpoint from another work dir: 1 epoch = 2 iterations done, train to epoch 2.
    out = run_tool(
        [
            PYTHON,
            osp.join(TOOLS, 'train.py'),
            DEMO_CONFIG,
            '--work-dir',
            work_dir,
            '--resume',
            trained_run['checkpoint'],
            '--cfg-options',
            *tiny_demo_options,
            'train_cfg.max_epochs=2',
            *no_val,
        ],
        subprocess_env,
    )
    assert 'resumed epoch: 1, iter: 2' in out
    assert [e['iter'] for e in scalars(work_dir)] == [3, 4]
    # Without a path: the latest checkpoint of the work dir (epoch 2), train to epoch 3.
    out = run_tool(
        [
            PYTHON,
            osp.join(TOOLS, 'train.py'),
            DEMO_CONFIG,
            '--work-dir',
            work_dir,
            '--resume',
            '--cfg-options',
            *tiny_demo_options,
            'train_cfg.max_epochs=3',
            *no_val,
        ],
        subprocess_env,
    )
    assert f'Resume: the newest valid checkpoint is {osp.join(work_dir, "epoch_2.pth")}' in out
    assert 'resumed epoch: 2, iter: 4' in out
    allow_runner_checkpoints()
    checkpoint = torch.load(osp.join(work_dir, 'epoch_3.pth'), map_location='cpu')  # weights_only
    assert (checkpoint['meta']['epoch'], checkpoint['meta']['iter']) == (3, 6)
    assert checkpoint['message_hub']['runtime_info']['iter'] == 5  # 0-based index of the last iteration
    # The message hub carried the loss history across both resumptions.
    assert checkpoint['message_hub']['log_scalars']['train/loss'].data[0].size == 6


# ------------------------------------------------------------------------------ distributed
def test_dist_train_and_test_two_cpu_processes_with_gloo(tiny_demo_options, subprocess_env, tmp_path):
    env = dict(subprocess_env, PORT=str(free_port()))
    work_dir = str(tmp_path)
    # 8 images, 2 processes x batch 2: 2 iterations per process, then distributed CocoMetric.
    out = run_tool(
        [
            'bash',
            osp.join(TOOLS, 'dist_train.sh'),
            DEMO_CONFIG,
            '2',
            '--work-dir',
            work_dir,
            '--cfg-options',
            *tiny_demo_options,
            'train_dataloader.batch_size=2',
        ],
        env,
    )
    assert 'Distributed training: True' in out
    assert 'Epoch(train) [1][2/2]' in out
    assert re.search(r'coco/bbox_mAP: [0-9.]+', out)
    dumped = Config.fromfile(osp.join(work_dir, osp.basename(DEMO_CONFIG)))
    assert dumped.env_cfg.dist_cfg.backend == 'gloo'
    assert dumped.model_wrapper_cfg.device_ids is None
    allow_runner_checkpoints()
    checkpoint = torch.load(osp.join(work_dir, 'epoch_1.pth'), map_location='cpu')
    assert checkpoint['meta']['iter'] == 2
    assert not any(k.startswith('module.') for k in checkpoint['state_dict'])
    # tools/dist_test.sh on the same checkpoint: the 2 ranks' predictions are gathered into one file.
    out_file = str(tmp_path / 'dist_results.pkl')
    out = run_tool(
        [
            'bash',
            osp.join(TOOLS, 'dist_test.sh'),
            DEMO_CONFIG,
            osp.join(work_dir, 'epoch_1.pth'),
            '2',
            '--work-dir',
            work_dir,
            '--out',
            out_file,
            '--cfg-options',
            *tiny_demo_options,
        ],
        dict(env, PORT=str(free_port())),
    )
    assert re.search(r'coco/bbox_mAP: [0-9.]+', out)
    assert sorted(r['img_id'] for r in load_results_pickle(out_file)) == [1, 2, 3, 4]


def test_cpu_distributed_setup_uses_gloo_and_cpu_ddp(monkeypatch):
    cfg = Config(dict(model_wrapper_cfg=dict(type='MMDistributedDataParallel', find_unused_parameters=True)))
    for name, value in dict(
        RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port())
    ).items():
        monkeypatch.setenv(name, value)
    try:
        backend = setup_distributed(cfg, 'pytorch')
        if torch.cuda.is_available():  # mmengine's own NCCL path: nothing initialised here
            assert backend == 'nccl' and not torch.distributed.is_initialized()
            return
        assert backend == 'gloo'
        assert torch.distributed.get_backend() == 'gloo'
        assert cfg.env_cfg.dist_cfg.backend == 'gloo'
        assert cfg.model_wrapper_cfg.device_ids is None
        assert cfg.model_wrapper_cfg.find_unused_parameters is True  # the config's own choice stays
    finally:
        teardown_distributed()
    assert not torch.distributed.is_initialized()


def test_setup_distributed_argument_checks(monkeypatch):
    cfg = Config(dict())
    assert setup_distributed(cfg, 'none') is None and 'model_wrapper_cfg' not in cfg
    with pytest.raises(ValueError, match='launcher must be one of'):
        setup_distributed(cfg, 'torchrun')
    if not torch.cuda.is_available():
        monkeypatch.delenv('RANK', raising=False)
        monkeypatch.delenv('WORLD_SIZE', raising=False)
        with pytest.raises(
            ValueError, match=r"--launcher pytorch expects the environment variables \['RANK', 'WORLD_SIZE'\]"
        ):
            setup_distributed(Config(dict()), 'pytorch')


# ------------------------------------------------------------------ mmdet's own train script
def test_mmdet_packaged_train_script_trains_our_config(tiny_demo_options, subprocess_env, tmp_path):
    """mmdet's tools/train.py (shipped in site-packages/mmdet/.mim) needs only custom_imports."""
    import mmdet

    script = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'train.py')
    assert osp.isfile(script), f'mmdet ships no {script}'
    work_dir = str(tmp_path / 'work')
    # Run outside the repository: mmdet_rla must come from the installed package via custom_imports.
    out = run_tool(
        [
            PYTHON,
            script,
            DEMO_CONFIG,
            '--work-dir',
            work_dir,
            '--cfg-options',
            *tiny_demo_options,
            'train_cfg.val_interval=10',
        ],
        subprocess_env,
        cwd=str(tmp_path),
    )
    assert 'Epoch(train) [1][2/2]' in out
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))


# -------------------------------------------------------------------- checkpoint-load policy
def test_runner_checkpoints_need_and_get_only_the_allowlisted_globals(trained_run, subprocess_env):
    code = f"""
import pickle, torch
path = {trained_run['checkpoint']!r}
try:
    torch.load(path, map_location='cpu')
    print('LOADED WITHOUT ALLOWLIST')
except pickle.UnpicklingError:
    print('refused by default')
from mmdet_rla.tools_support.checkpoint import allow_runner_checkpoints
allow_runner_checkpoints()
ckpt = torch.load(path, map_location='cpu')
print('loaded with weights_only, iter', ckpt['meta']['iter'])
"""
    out = run_tool([PYTHON, '-c', code], subprocess_env)
    assert 'refused by default' in out
    assert 'loaded with weights_only, iter 2' in out


class _GetattrExploit:
    """Pickles as ``getattr(HistoryBuffer, '__init__')``: must be refused despite the allowlist."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer

        return getattr, (HistoryBuffer, '__init__')


def test_restricted_getattr_refuses_anything_but_statistics(tmp_path):
    allow_runner_checkpoints()
    path = str(tmp_path / 'exploit.pth')
    torch.save({'state_dict': {}, 'x': _GetattrExploit()}, path)
    with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
        torch.load(path)
    assert os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD') in (None, '0', '')


# ---------------------------------------------------------------------------- coco_eval.py
def _perfect_predictions(ann_file: str) -> List[dict]:
    """DumpDetResults-style records that reproduce the ground truth (labels = category index)."""
    with open(ann_file) as f:
        coco = json.load(f)
    cat_ids = sorted(c['id'] for c in coco['categories'])
    from pycocotools import mask as mask_utils

    records = []
    for image in coco['images']:
        anns = [a for a in coco['annotations'] if a['image_id'] == image['id']]
        boxes = [[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)]
        masks = [
            mask_utils.merge(mask_utils.frPyObjects(a['segmentation'], image['height'], image['width'])) for a in anns
        ]
        records.append(
            dict(
                img_id=image['id'],
                pred_instances=dict(
                    bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                    scores=torch.ones(len(anns)),
                    labels=torch.tensor([cat_ids.index(a['category_id']) for a in anns], dtype=torch.int64),
                    masks=masks,
                ),
            )
        )
    return records


def test_coco_eval_scores_pickles_and_json(synthetic_coco, subprocess_env, tmp_path, capsys):
    ann = synthetic_coco['val_ann']
    records = _perfect_predictions(ann)
    pkl = str(tmp_path / 'perfect.pkl')
    with open(pkl, 'wb') as f:
        pickle.dump(records, f, protocol=2)  # the protocol mmengine.dump writes
    metrics = evaluate(pkl, ann, ['bbox', 'segm'], classwise=True)
    assert metrics['bbox_mAP'] == pytest.approx(1.0) and metrics['segm_mAP'] == pytest.approx(1.0)
    assert 'circle' in capsys.readouterr().out  # the classwise table
    # Labels read in the wrong class order: the same boxes now score far lower.
    wrong = evaluate(pkl, ann, ['bbox'], classes=list(reversed(CLASSES)), printer=lambda *a: None)
    assert wrong['bbox_mAP'] < 0.7

    # A COCO results json (what CocoMetric(format_only=True) writes), through the CLI.
    with open(ann) as f:
        gt = json.load(f)
    shifted = [
        dict(
            image_id=a['image_id'],
            category_id=a['category_id'],
            score=1.0,
            bbox=[a['bbox'][0] + 0.3 * a['bbox'][2], a['bbox'][1], a['bbox'][2], a['bbox'][3]],
        )
        for a in gt['annotations']
    ]
    results_json = str(tmp_path / 'shifted.json')
    with open(results_json, 'w') as f:
        json.dump(shifted, f)
    out = run_tool(
        [PYTHON, osp.join(TOOLS, 'analysis', 'coco_eval.py'), results_json, ann, '--metric', 'bbox'], subprocess_env
    )
    assert 'Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]' in out
    stats = re.search(r'bbox_mAP_copypaste: ([0-9.]+) ([0-9.]+) ([0-9.]+)', out)
    # IoU of a box shifted by 30% of its width is 0.54: counted at IoU 0.5, not at 0.75.
    assert float(stats.group(2)) == pytest.approx(1.0) and float(stats.group(3)) == 0.0


def test_coco_eval_rejects_bad_inputs(synthetic_coco, tmp_path):
    ann = synthetic_coco['val_ann']
    with pytest.raises(ValueError, match='metric must be one of'):
        evaluate(ann, ann, ['keypoints'])
    with pytest.raises(ValueError, match='results must be a .json'):
        evaluate(str(tmp_path / 'results.txt'), ann)
    evil = str(tmp_path / 'evil.pkl')
    with open(evil, 'wb') as f:
        pickle.dump([dict(img_id=1, pred_instances=os.system)], f)  # os.system is a global
    with pytest.raises(pickle.UnpicklingError, match='refusing to load'):
        load_results_pickle(evil)


# ------------------------------------------------------------------------ demo helper tools
def test_demo_plot_and_draw_tools(trained_run, synthetic_coco, tmp_path):
    plot_loss = load_tool('demo/plot_loss.py')
    draw_detections = load_tool('demo/draw_detections.py')
    png = plot_loss.main([trained_run['work_dir'], '--out', str(tmp_path / 'loss.png')])
    drawn = draw_detections.main(
        [
            DEMO_CONFIG,
            trained_run['checkpoint'],
            '--ann',
            synthetic_coco['val_ann'],
            '--img-dir',
            osp.join(synthetic_coco['root'], 'val'),
            '--img-id',
            '2',
            '--score-thr',
            '0.0',
            '--out',
            str(tmp_path / 'det.png'),
        ]
    )
    for path in (png, drawn):
        with open(path, 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_eval_untrained_tool(tiny_demo_options, subprocess_env, tmp_path):
    out_file = str(tmp_path / 'untrained.pkl')
    out = run_tool(
        [
            PYTHON,
            osp.join(TOOLS, 'demo', 'eval_untrained.py'),
            DEMO_CONFIG,
            '--work-dir',
            str(tmp_path),
            '--out',
            out_file,
            '--cfg-options',
            *tiny_demo_options,
        ],
        subprocess_env,
    )
    assert re.search(r'coco/bbox_mAP: [0-9.]+', out)
    results = load_results_pickle(out_file)
    assert len(results) == 4
    # Evaluated at --score-thr 0 (the default): boxes below the config's 0.05 count too.
    assert min(float(r['pred_instances']['scores'].min()) for r in results) < 0.05

    tool = load_tool('demo/eval_untrained.py')
    two_stage = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'rla', 'faster-rcnn_rla-r50_fpn_1x_coco.py'))
    assert tool.set_score_thresholds(two_stage.model.test_cfg, 0.0) == 1  # rcnn's; rpn has none
    assert two_stage.model.test_cfg.rcnn.score_thr == 0.0 and 'score_thr' not in two_stage.model.test_cfg.rpn


# --------------------------------------------------------------------- dataset generator
def test_generated_dataset_is_valid_coco(synthetic_coco):
    import cv2
    from pycocotools.coco import COCO

    for split, ann_key, count in (('train', 'train_ann', 8), ('val', 'val_ann', 4)):
        coco = COCO(synthetic_coco[ann_key])
        assert len(coco.getImgIds()) == count
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(CLASSES)
        assert len(coco.getAnnIds()) >= count  # at least one object per image
        for image in coco.loadImgs(coco.getImgIds()):
            pixels = cv2.imread(osp.join(synthetic_coco['root'], split, image['file_name']))
            assert pixels.shape == (image['height'], image['width'], 3) == (128, 128, 3)
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=image['id'])):
                x, y, w, h = ann['bbox']
                assert ann['iscrowd'] == 0 and ann['category_id'] in (1, 2, 3)
                assert 0 <= x and 0 <= y and x + w <= image['width'] and y + h <= image['height']
                polygon = np.array(ann['segmentation'][0]).reshape(-1, 2)
                assert len(polygon) >= 3
                assert (polygon >= [x - 0.02, y - 0.02]).all() and (polygon <= [x + w + 0.02, y + h + 0.02]).all()
                assert 0 < ann['area'] <= w * h
                mask = coco.annToMask(ann)  # pycocotools rasterises the polygon
                assert abs(int(mask.sum()) - ann['area']) <= 0.15 * ann['area'] + 10
                ys, xs = np.nonzero(mask)
                assert xs.min() >= int(x) and xs.max() <= x + w and ys.min() >= int(y) and ys.max() <= y + h


def test_generator_is_deterministic_and_prefix_stable(tmp_path):
    def files(root: str) -> Dict[str, bytes]:
        out = {}
        for folder, _, names in os.walk(root):
            for name in names:
                with open(osp.join(folder, name), 'rb') as f:
                    out[osp.relpath(osp.join(folder, name), root)] = f.read()
        return out

    generate_coco_dataset(str(tmp_path / 'a'), num_train=3, num_val=1, image_size=(64, 80), seed=3)
    generate_coco_dataset(str(tmp_path / 'b'), num_train=3, num_val=1, image_size=(64, 80), seed=3)
    generate_coco_dataset(str(tmp_path / 'c'), num_train=3, num_val=1, image_size=(64, 80), seed=4)
    a, b, c = files(str(tmp_path / 'a')), files(str(tmp_path / 'b')), files(str(tmp_path / 'c'))
    assert a == b
    assert a['train/000000.png'] != c['train/000000.png']
    # Image i depends on (seed, split, i) only: a shorter run is a prefix of a longer one.
    generate_split(str(tmp_path / 'd'), 'train', 2, image_size=(64, 80), seed=3)
    assert files(str(tmp_path / 'd'))['train/000001.png'] == a['train/000001.png']


def test_generator_max_objects(tmp_path):
    """max_objects bounds the objects per image; the default 4 keeps the images of every existing caller."""

    def counts(ann_file: str) -> List[int]:
        with open(ann_file) as f:
            coco = json.load(f)
        per_image = {image['id']: 0 for image in coco['images']}
        for ann in coco['annotations']:
            per_image[ann['image_id']] += 1
        return list(per_image.values())

    default = generate_coco_dataset(str(tmp_path / 'default'), num_train=12, num_val=1, seed=5)
    four = generate_coco_dataset(str(tmp_path / 'four'), num_train=12, num_val=1, seed=5, max_objects=4)
    for split in ('train', 'val'):
        with open(default[split], 'rb') as a, open(four[split], 'rb') as b:
            assert a.read() == b.read()
    one = generate_coco_dataset(str(tmp_path / 'one'), num_train=12, num_val=1, seed=5, max_objects=1)
    assert counts(one['train']) == [1] * 12
    dense = generate_coco_dataset(str(tmp_path / 'dense'), num_train=12, num_val=1, seed=5, max_objects=8)
    assert max(counts(dense['train'])) > 4 >= max(counts(default['train']))
    assert sum(counts(dense['train'])) > sum(counts(default['train']))
    with pytest.raises(ValueError, match='max_objects must be a positive integer, got 0'):
        generate_coco_dataset(str(tmp_path / 'none'), num_train=1, num_val=1, max_objects=0)
    with pytest.raises(ValueError, match='max_objects'):
        generate_split(str(tmp_path / 'none'), 'val', 1, max_objects=-2)


def test_generator_argument_checks_and_cli(tmp_path, capsys):
    with pytest.raises(ValueError, match='num_train'):
        generate_coco_dataset(str(tmp_path), num_train=0)
    with pytest.raises(ValueError, match='image_size'):
        generate_coco_dataset(str(tmp_path), image_size=(16, 16))
    with pytest.raises(ValueError, match='split must be one of'):
        generate_split(str(tmp_path), 'test', 1)
    cli = load_tool('misc/make_coco_dataset.py')
    written = cli.main(
        [str(tmp_path / 'cli'), '--num-train', '2', '--num-val', '1', '--size', '48', '64', '--seed', '1']
    )
    out = capsys.readouterr().out
    assert 'train: 2/2 images' in out and 'val: 1/1 images' in out and 'up to 4 objects each' in out
    dense = cli.main([str(tmp_path / 'dense'), '--num-train', '3', '--num-val', '1', '--max-objects', '1'])
    with open(dense['train']) as f:
        assert len(json.load(f)['annotations']) == 3
    with open(written['val']) as f:
        assert json.load(f)['images'][0]['height'] == 48
