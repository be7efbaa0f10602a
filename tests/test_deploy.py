"""Deployment: tools/train.py and tools/test.py with --compile, ONNX export of detectors, the onnxruntime
detector against PyTorch (demo FCOS from a checkpoint; Faster / Mask R-CNN of every family), bad input.

Real parts throughout: mmengine's Runner (subprocesses), torch.export, torch.onnx, onnxruntime, mmdet's
post-processing and RoI heads, pycocotools.
"""

import copy
import os.path as osp
import re
import types

import pytest
import torch
from conftest import DEMO_CONFIG, PYTHON, REPO_ROOT
from mmdet.testing import demo_mm_inputs
from test_tools import load_tool, run_tool

from mmdet_rla.deploy import ONNXRuntimeDetector, build_detector, export_model, load_config, read_metadata
from mmdet_rla.deploy.compare import compare_detections
from mmdet_rla.deploy.compile import CompileFallbackHook, compile_for_inference
from mmdet_rla.tools_support.coco_eval import load_results_pickle

TOOLS = osp.join(REPO_ROOT, 'tools')
# Parity asked of the exported detector (issue 10): same labels, boxes within 1e-3, scores within 1e-4.
BOX_ATOL, SCORE_ATOL = 1e-3, 1e-4


def assert_same_detections(report: dict) -> None:
    assert report['same_counts'] and report['same_labels'], report
    assert report['max_box_difference'] <= BOX_ATOL, report
    assert report['max_score_difference'] <= SCORE_ATOL, report


def logged_map(output: str) -> float:
    return float(re.findall(r'coco/bbox_mAP: ([0-9.]+)', output)[-1])


@torch._dynamo.register_backend
def failing_backend(graph_module, example_inputs):
    """A torch.compile backend that cannot compile anything (stands in for an unsupported model)."""
    raise RuntimeError('this backend compiles nothing')


# ------------------------------------------------------------------------------------ compile
@pytest.fixture(scope='module')
def compiled_run(tmp_path_factory, tiny_demo_options, subprocess_env):
    """The demo config trained one iteration of 8 images by ``tools/train.py --compile`` (mmengine's
    compiled train step).

    The ``eager`` backend runs TorchDynamo's capture of the whole train step (mmdet's losses and
    assigners included, across their graph breaks) and mmengine's compile path without code generation,
    which would cost minutes here; Inductor is measured by ``tools/analysis/benchmark_deploy.py`` and
    tested on the backbones in test_compile_export.py. One iteration: a second one would recompile for
    the other number of ground-truth boxes, which only costs time.
    """
    work_dir = str(tmp_path_factory.mktemp('compiled_train'))
    out = run_tool(
        [
            PYTHON,
            osp.join(TOOLS, 'train.py'),
            DEMO_CONFIG,
            '--work-dir',
            work_dir,
            '--compile',
            '--compile-backend',
            'eager',
            '--cfg-options',
            *tiny_demo_options,
            'train_dataloader.batch_size=8',
        ],
        subprocess_env,
    )
    return dict(work_dir=work_dir, checkpoint=osp.join(work_dir, 'epoch_1.pth'), output=out)


def test_train_tool_compiles_the_train_step(compiled_run):
    out = compiled_run['output']
    assert 'Model has been "compiled"' in out  # mmengine's compile switch took effect
    assert 'falling back' not in out
    assert osp.isfile(compiled_run['checkpoint'])
    losses = [float(v) for v in re.findall(r'Epoch\(train\) \[1\]\[1/1\].* loss: ([0-9.]+)', out)]
    assert len(losses) == 1 and 0 < losses[0] < 100


@pytest.fixture(scope='module')
def pytorch_test_run(compiled_run, tiny_demo_options, subprocess_env, tmp_path_factory):
    """tools/test.py on the compiled run's checkpoint: detections pickled, CocoMetric logged."""
    work_dir = str(tmp_path_factory.mktemp('pytorch_test'))
    out_file = osp.join(work_dir, 'results.pkl')
    out = run_tool(
        [
            PYTHON,
            osp.join(TOOLS, 'test.py'),
            DEMO_CONFIG,
            compiled_run['checkpoint'],
            '--work-dir',
            work_dir,
            '--out',
            out_file,
            '--cfg-options',
            *tiny_demo_options,
        ],
        subprocess_env,
    )
    return dict(results=out_file, output=out)


def test_test_tool_with_compile_gives_the_same_detections(
    compiled_run, pytorch_test_run, tiny_demo_options, subprocess_env, tmp_path
):
    out_file = str(tmp_path / 'compiled.pkl')
    out = run_tool(
        [
            PYTHON,
            osp.join(TOOLS, 'test.py'),
            DEMO_CONFIG,
            compiled_run['checkpoint'],
            '--work-dir',
            str(tmp_path),
            '--out',
            out_file,
            '--compile',
            '--compile-backend',
            'aot_eager',
            '--cfg-options',
            *tiny_demo_options,
        ],
        subprocess_env,
    )
    assert 'torch.compile (aot_eager, dynamic=True): backbone, neck' in out
    report = compare_detections(load_results_pickle(out_file), load_results_pickle(pytorch_test_run['results']))
    assert_same_detections(report)
    assert report['detections'] > 0
    assert logged_map(out) == logged_map(pytorch_test_run['output'])


def test_inference_compile_falls_back_to_eager_when_a_part_cannot_compile():
    model = build_detector(load_config(DEMO_CONFIG), seed=0)
    inputs = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        expected = model.neck(model.backbone(inputs))
        assert compile_for_inference(model, backend='failing_backend') == ['backbone', 'neck']
        actual = model.neck(model.backbone(inputs))
    assert all(torch.equal(a, e) for a, e in zip(actual, expected))
    assert model.backbone._compiled_call_impl is None and model.neck._compiled_call_impl is None
    torch._dynamo.reset()


def test_train_compile_falls_back_to_compiling_the_backbone(tiny_demo_options):
    """CompileFallbackHook: a train step that cannot compile runs eagerly, with the backbone compiled."""
    from mmengine.optim import build_optim_wrapper

    model = build_detector(load_config(DEMO_CONFIG), seed=0).train()
    optim_wrapper = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.0)))
    model.train_step = torch.compile(model.train_step, backend='failing_backend')  # as mmengine does
    logger = types.SimpleNamespace(warnings=[])
    logger.warning = logger.warnings.append
    hook = CompileFallbackHook(dict(backend='eager'))
    hook.before_train(types.SimpleNamespace(model=model, logger=logger))
    data = demo_mm_inputs(batch_size=1, image_shapes=[(3, 64, 64)], num_items=[1], num_classes=3)
    log_vars = model.train_step(data, optim_wrapper)
    assert hook.fell_back and 'falling back to compiling the backbone' in logger.warnings[0]
    assert model.backbone._compiled_call_impl is not None  # the backbone is now compiled
    assert 'train_step' not in model.__dict__ or model.train_step.__func__ is type(model).train_step
    assert torch.isfinite(log_vars['loss'])
    torch._dynamo.reset()


# ------------------------------------------------------------------------- demo FCOS parity
def test_exported_demo_detector_gives_test_tool_detections_and_map(
    compiled_run, pytorch_test_run, synthetic_coco, tiny_demo_options, subprocess_env, tmp_path
):
    """The checkpoint exported (dynamic shapes) and run by tools/deployment/test_onnx.py: same
    detections as tools/test.py (labels, boxes within 1e-3, scores within 1e-4) and the same COCO mAP;
    and through mmdet's inference_detector on image files."""
    onnx_file = str(tmp_path / 'demo.onnx')
    report = load_tool('deployment/export_onnx.py').main(
        [DEMO_CONFIG, compiled_run['checkpoint'], '--out', onnx_file, '--dynamic']
    )
    assert report['difference'] < 1e-3 and read_metadata(onnx_file)['part'] == 'single_stage'
    onnx_results = str(tmp_path / 'onnx.pkl')
    out = run_tool(
        [
            PYTHON,
            osp.join(TOOLS, 'deployment', 'test_onnx.py'),
            DEMO_CONFIG,
            onnx_file,
            '--work-dir',
            str(tmp_path),
            '--out',
            onnx_results,
            '--compare-to',
            pytorch_test_run['results'],
            '--cfg-options',
            *tiny_demo_options,
        ],
        subprocess_env,
    )
    comparison = compare_detections(load_results_pickle(onnx_results), load_results_pickle(pytorch_test_run['results']))
    assert_same_detections(comparison)
    assert comparison['images'] == 4 and comparison['detections'] == 4 * 20  # max_per_img with score_thr 0
    assert 'same labels True' in out
    assert logged_map(out) == logged_map(pytorch_test_run['output'])

    from mmdet.apis import inference_detector
    from mmengine.registry import DefaultScope

    images = [osp.join(synthetic_coco['root'], 'val', name) for name in ('000000.png', '000001.png')]
    cfg = load_config(DEMO_CONFIG, {'model.test_cfg.score_thr': 0.0})
    actual = ONNXRuntimeDetector(onnx_file, cfg).infer(images)
    model = build_detector(cfg, compiled_run['checkpoint'])
    model.cfg = cfg
    with DefaultScope.overwrite_default_scope('mmdet'):
        expected = inference_detector(model, images)
    assert_same_detections(compare_detections(actual, expected))


def test_static_shape_export_pads_like_mmdet(compiled_run, tmp_path):
    """A file exported at a fixed 1x3x160x192 takes a smaller batch padded into it, one image at a time,
    and detects what PyTorch detects on the same padded batch; larger images are refused."""
    onnx_file = str(tmp_path / 'static.onnx')
    cfg = load_config(DEMO_CONFIG, {'model.test_cfg.score_thr': 0.0})
    export_model(cfg, compiled_run['checkpoint'], onnx_file, shape=(160, 192))
    assert read_metadata(onnx_file)['input_shape'] == [1, 3, 160, 192]
    runtime = ONNXRuntimeDetector(onnx_file, cfg)
    model = build_detector(cfg, compiled_run['checkpoint'])
    data = demo_mm_inputs(batch_size=2, image_shapes=[(3, 128, 128), (3, 120, 150)], num_items=[1, 1])
    data = model.data_preprocessor(data, False)
    inputs = data['inputs']
    padded = torch.nn.functional.pad(inputs, (0, 192 - inputs.shape[3], 0, 160 - inputs.shape[2]))
    with torch.no_grad():
        expected = model.predict(padded, [s.clone() for s in data['data_samples']])
    actual = runtime.predict(data['inputs'], [s.clone() for s in data['data_samples']])
    assert_same_detections(compare_detections(actual, expected))
    with pytest.raises(ValueError, match='export with a larger --shape or --dynamic'):
        runtime.run_network(torch.zeros(1, 3, 192, 192))


# ------------------------------------------------------------ R-CNNs of every family, RetinaNet
NARROW_TWO_STAGE = {  # R-50 layouts at 1/8 width, 3 classes: seconds instead of minutes
    'model.backbone.base_channels': 8,
    'model.neck.in_channels': [32, 64, 128, 256],
    'model.neck.out_channels': 32,
    'model.rpn_head.in_channels': 32,
    'model.rpn_head.feat_channels': 32,
    'model.roi_head.bbox_roi_extractor.out_channels': 32,
    'model.roi_head.bbox_head.in_channels': 32,
    'model.roi_head.bbox_head.fc_out_channels': 64,
    'model.roi_head.bbox_head.num_classes': 3,
}
NARROW_MASK_HEAD = {
    'model.roi_head.mask_roi_extractor.out_channels': 32,
    'model.roi_head.mask_head.in_channels': 32,
    'model.roi_head.mask_head.conv_out_channels': 32,
    'model.roi_head.mask_head.num_classes': 3,
}
NARROW_RETINANET = {
    'model.backbone.base_channels': 8,
    'model.neck.in_channels': [32, 64, 128, 256],
    'model.neck.out_channels': 32,
    'model.bbox_head.in_channels': 32,
    'model.bbox_head.feat_channels': 32,
    'model.bbox_head.num_classes': 3,
    'model.test_cfg.score_thr': 0.0,
    'model.test_cfg.max_per_img': 30,
}


def narrow_options(config: str) -> dict:
    if 'mobilenetv2' in config:  # SSDLite / YOLOv3: MobileNetV2 is narrow already; keep low scores too
        return {'model.test_cfg.score_thr': 0.0, **({'model.test_cfg.conf_thr': 0.0} if 'yolo' in config else {})}
    if 'retinanet' in config:
        return NARROW_RETINANET
    return dict(NARROW_TWO_STAGE, **(NARROW_MASK_HEAD if 'mask-rcnn' in config else {}))


def decisive_scores(model: torch.nn.Module) -> None:
    """Widen the random classifiers' weights so that detection scores are spread out.

    With mmdet's initialisation (std 0.01) every class score of an untrained model is about the same,
    and which boxes pass top-k and NMS is decided by differences at float rounding level; then neither
    PyTorch run to run nor any exporter could be compared. Spread scores make the order the network's.
    """
    torch.manual_seed(1)
    if hasattr(model, 'roi_head'):
        for layer in (model.rpn_head.rpn_cls, model.roi_head.bbox_head.fc_cls):
            torch.nn.init.normal_(layer.weight, std=0.5)
        return
    if model.backbone.__class__.__name__ == 'RLAMobileNetV2':
        # SSDLite / YOLOv3: norms everywhere; with their initial statistics the random features fade out.
        for layer in model.modules():
            if isinstance(layer, torch.nn.BatchNorm2d):
                torch.nn.init.uniform_(layer.weight, 0.5, 1.5)
                torch.nn.init.uniform_(layer.running_var, 0.2, 0.5)
    if model.bbox_head.__class__.__name__ == 'YOLOV3Head':
        # Its box sizes are exp() of the head's output: keep the box rows of each prediction conv (the
        # first 4 of every anchor's 5 + num_classes) small, so boxes stay near the anchors' sizes.
        head = model.bbox_head
        with torch.no_grad():
            for conv in head.convs_pred:
                box_rows = torch.arange(conv.out_channels) % head.num_attrib < 4
                conv.weight[box_rows] *= 0.1
        return
    for layer in model.bbox_head.modules():  # RetinaNet: its 4-conv towers damp the features too
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(layer.weight)
            if layer.bias is not None:
                torch.nn.init.zeros_(layer.bias)


@pytest.mark.parametrize(
    'config',
    [
        'configs/rla/faster-rcnn_rla-r50_fpn_1x_coco.py',
        'configs/rnn_regnet/faster-rcnn_rnn-regnet50-lstm_fpn_1x_coco.py',
        'configs/ror/mask-rcnn_ror-r50_fpn_1x_coco.py',
        'configs/rla/retinanet_rla-r50_fpn_1x_coco.py',
        'configs/rla_mobilenetv2/ssdlite_rla-mobilenetv2-scratch_8xb24-600e_coco.py',
        'configs/rla_mobilenetv2/yolov3_rla-mobilenetv2_8xb24-320-300e_coco.py',
    ],
)
def test_detector_through_onnxruntime_detects_what_pytorch_detects(config, tmp_path):
    """Two-stage detectors: backbone, neck and RPN in onnxruntime, the RoI stage in mmdet (masks
    included); RetinaNet whole. Random weights (see ``decisive_scores``), 1/8 width, dynamic export.
    SSDLite and YOLOv3 (RLA-MobileNetV2): whole, full width, fixed 320x320 export."""
    cfg = load_config(osp.join(REPO_ROOT, config), narrow_options(config))
    model = build_detector(cfg, seed=0)
    decisive_scores(model)
    checkpoint = str(tmp_path / 'random.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    onnx_file = str(tmp_path / 'model.onnx')
    single_stage_320 = 'mobilenetv2' in config  # SSDLite and YOLOv3 at their 320x320 input
    shape = (320, 320) if single_stage_320 else (96, 128)
    layout = export_model(cfg, checkpoint, onnx_file, shape=shape, dynamic=not single_stage_320)['layout']
    if 'retinanet' in config:
        assert layout['part'] == 'single_stage' and layout['head_groups'] == [5, 5]
    elif single_stage_320:
        assert layout['part'] == 'single_stage'
    else:
        assert layout['part'] == 'two_stage' and layout['num_features'] == 5 and layout['head_groups'] == [5, 5]

    runtime = ONNXRuntimeDetector(onnx_file, cfg, checkpoint)
    with_mask = 'mask-rcnn' in config
    shapes = [(3, 320, 320)] * 2 if single_stage_320 else [(3, 97, 131), (3, 120, 90)]
    data = demo_mm_inputs(batch_size=2, image_shapes=shapes, num_items=[1, 1], num_classes=3, with_mask=with_mask)
    actual = runtime.test_step(copy.deepcopy(data))  # predictions are written into the data samples
    with torch.no_grad():
        expected = model.test_step(copy.deepcopy(data))
    comparison = compare_detections(actual, expected)
    assert_same_detections(comparison)
    assert comparison['detections'] > 10
    if with_mask:
        for a, e in zip(actual, expected):
            order_a, order_e = a.pred_instances.scores.argsort(), e.pred_instances.scores.argsort()
            differing = (a.pred_instances.masks[order_a] != e.pred_instances.masks[order_e]).float().mean()
            assert differing < 1e-3


# --------------------------------------------------------------------------------- bad input
@pytest.fixture(scope='module')
def demo_state_dict():
    return build_detector(load_config(DEMO_CONFIG), seed=0).state_dict()


def test_export_tool_names_the_argument_it_cannot_use(demo_state_dict, tmp_path):
    export = load_tool('deployment/export_onnx.py').main
    out = ['--out', str(tmp_path / 'x.onnx')]
    with pytest.raises(ValueError, match="config: no such config file 'configs/nope.py'"):
        export(['configs/nope.py', 'none'] + out)
    with pytest.raises(ValueError, match='checkpoint: no such file'):
        export([DEMO_CONFIG, str(tmp_path / 'missing.pth')] + out)
    for shape in (['0', '160'], ['160', '-3'], ['a', '160'], ['1.5', '160']):
        with pytest.raises(ValueError, match='--shape must be two positive integers H W'):
            export([DEMO_CONFIG, 'none', '--shape', *shape] + out)

    def saved(state_dict, name):
        path = str(tmp_path / name)
        torch.save({'state_dict': state_dict}, path)
        return path

    wrong_shape = dict(demo_state_dict, **{'backbone.conv1.weight': torch.zeros(4, 3, 7, 7)})
    with pytest.raises(ValueError, match=r'does not fit .*1 tensors of another shape \(backbone.conv1.weight'):
        export([DEMO_CONFIG, saved(wrong_shape, 'shape.pth')] + out)
    missing = {k: v for k, v in demo_state_dict.items() if k != 'bbox_head.conv_cls.weight'}
    missing['neck.extra.weight'] = torch.zeros(1)
    with pytest.raises(
        ValueError,
        match=r"1 missing keys \(e.g. \['bbox_head.conv_cls.weight'\]\), "
        r"1 unexpected keys \(e.g. \['neck.extra.weight'\]\)",
    ):
        export([DEMO_CONFIG, saved(missing, 'keys.pth')] + out)
    assert not osp.exists(tmp_path / 'x.onnx')


def test_runtime_refuses_what_it_cannot_run(tmp_path):
    cfg = load_config(DEMO_CONFIG)
    with pytest.raises(ValueError, match='onnx_file: no such file'):
        ONNXRuntimeDetector(str(tmp_path / 'missing.onnx'), cfg)
    backbone_file = str(tmp_path / 'backbone.onnx')
    report = export_model(cfg, None, backbone_file, shape=(64, 64), part='backbone')
    assert report['layout']['backbone'] == 'RLAResNet'
    with pytest.raises(ValueError, match='holds a backbone'):
        ONNXRuntimeDetector(backbone_file, cfg)
    # A two-stage layout (the file's graph does not matter to these checks).
    two_stage = load_config(osp.join(REPO_ROOT, 'configs/rla/faster-rcnn_rla-r50_fpn_1x_coco.py'), NARROW_TWO_STAGE)
    layout = dict(
        version=1,
        part='two_stage',
        detector='FasterRCNN',
        num_features=5,
        head_groups=[5, 5],
        group_names=['cls_scores', 'bbox_preds'],
        input_shape=None,
    )
    detector_file = identity_onnx(str(tmp_path / 'faster.onnx'), layout)
    with pytest.raises(ValueError, match='checkpoint: a two-stage detector runs its RoI stage'):
        ONNXRuntimeDetector(detector_file, two_stage)
    with pytest.raises(ValueError, match='device must be a torch device such as cpu or cuda:0'):
        ONNXRuntimeDetector(detector_file, two_stage, checkpoint=None, device='tpu')
    import onnxruntime

    from mmdet_rla.deploy import execution_providers

    if 'CUDAExecutionProvider' in onnxruntime.get_available_providers():  # onnxruntime-gpu
        assert execution_providers('cuda:1')[0] == ('CUDAExecutionProvider', {'device_id': 1})
    else:  # no silent fall-back to the CPU
        with pytest.raises(ValueError, match="device 'cuda:1' needs onnxruntime's CUDAExecutionProvider"):
            execution_providers('cuda:1')
    with pytest.raises(ValueError, match='onnx_file holds a FasterRCNN but the config builds a FCOS'):
        ONNXRuntimeDetector(detector_file, cfg)
    plain_file = identity_onnx(str(tmp_path / 'plain.onnx'), None)
    with pytest.raises(ValueError, match='was not written by tools/deployment/export_onnx.py'):
        ONNXRuntimeDetector(plain_file, cfg)


def identity_onnx(path: str, layout) -> str:
    """A one-node ONNX file carrying ``layout`` as this package's metadata (none if ``None``)."""
    import json

    import onnx
    from onnx import TensorProto, helper

    from mmdet_rla.deploy.onnx import METADATA_KEY

    value = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node('Identity', ['inputs'], ['outputs'])],
        'identity',
        [value('inputs', TensorProto.FLOAT, [1, 3, 8, 8])],
        [value('outputs', TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], ir_version=8)
    if layout is not None:
        helper.set_model_props(model, {METADATA_KEY: json.dumps(layout)})
    onnx.save(model, path)
    return path


def test_default_export_shape_is_the_test_resize_padded():
    from mmdet_rla.deploy import default_export_shape

    assert default_export_shape(load_config(DEMO_CONFIG)) == (160, 160)
    coco = load_config(osp.join(REPO_ROOT, 'configs/ror/retinanet_ror-r50_fpn_1x_coco.py'))
    assert default_export_shape(coco) == (800, 1344)  # Resize(scale=(1333, 800)), padded to 32
