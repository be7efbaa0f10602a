"""Run an exported detector with onnxruntime and mmdet's own post-processing.

>>> from mmdet_rla.deploy import ONNXRuntimeDetector
>>> detector = ONNXRuntimeDetector('fcos.onnx', 'configs/_demo_/fcos_rla-r18-tiny_fpn_gn-head_shapes.py')
>>> result = detector.infer('image.png')      # a DetDataSample, as from the PyTorch model
"""

from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.config import Config
from torch import nn

from .detector import batch_img_metas, build_detector, dense_head, load_config, split_outputs
from .onnx import inference_session, read_metadata, run_session


class ONNXRuntimeDetector(nn.Module):
    """An exported detector (``tools/deployment/export_onnx.py``) behind mmdet's model interface.

    The network up to the dense head's raw outputs runs in onnxruntime; the rest is the config's own
    mmdet code: the data preprocessor (normalisation, padding) before, and after it the head's
    ``predict_by_feat`` (single-stage detectors) or the RPN's ``predict_by_feat`` followed by the RoI
    head's ``predict`` (two-stage detectors, whose RoI stage needs ``checkpoint``). ``test_step`` and
    ``predict`` return ``DetDataSample``\\ s with ``pred_instances``, so mmdet's evaluators,
    ``inference_detector`` (see :meth:`infer`) and visualisers take this object where they take the
    PyTorch detector.

    Args:
        onnx_file: The exported file (it records which part of which detector it holds).
        config: The detector's config (path or ``Config``); ``cfg_options`` are merged into it.
        checkpoint: The detector's checkpoint. Needed for two-stage detectors (the RoI stage's
            weights are not in the ONNX file); single-stage post-processing has no weights.
        device: A torch device: ``cpu``, or e.g. ``cuda`` / ``cuda:1`` for onnxruntime's CUDA provider
            (from ``onnxruntime-gpu``; mmdet's post-processing then runs on that GPU too).
        num_threads: onnxruntime's intra-op threads (``None``: its default).
    """

    def __init__(
        self,
        onnx_file: str,
        config: Union[str, Config],
        checkpoint: Optional[str] = None,
        device: str = 'cpu',
        cfg_options: Optional[dict] = None,
        num_threads: Optional[int] = None,
    ) -> None:
        super().__init__()
        self.cfg = load_config(config, cfg_options)
        self.session = inference_session(onnx_file, device, num_threads)
        self.layout = read_metadata(onnx_file)
        if not self.layout:
            raise ValueError(
                f'onnx_file {onnx_file!r} was not written by tools/deployment/export_onnx.py '
                '(it has no mmdet_rla layout metadata)'
            )
        part = self.layout['part']
        model_type = str(self.cfg.model.type).split('.')[-1]
        if part not in ('single_stage', 'two_stage'):
            raise ValueError(
                f'onnx_file holds a {part} (exported with --part {part}); the runtime runs '
                'detectors (export without --part)'
            )
        if model_type != self.layout['detector']:
            raise ValueError(f'onnx_file holds a {self.layout["detector"]} but the config builds a {model_type}')
        if part == 'two_stage' and checkpoint is None:
            raise ValueError(
                'checkpoint: a two-stage detector runs its RoI stage in PyTorch from the '
                "checkpoint's weights; pass the checkpoint the ONNX file was exported from"
            )
        self.detector = build_detector(self.cfg, checkpoint).to(device)
        self.data_preprocessor = self.detector.data_preprocessor
        shape = self.layout.get('input_shape')
        self.input_shape = None if shape is None else tuple(shape)

    # ------------------------------------------------------------------ mmdet's model interface
    def test_step(self, data: dict) -> list:
        """Preprocess a dataloader batch and predict, as ``BaseDetector.test_step``."""
        data = self.data_preprocessor(data, False)
        return self.predict(data['inputs'], data['data_samples'])

    def val_step(self, data: dict) -> list:
        return self.test_step(data)

    def infer(self, images):
        """mmdet's ``inference_detector`` on image files or arrays, through the config's test pipeline.

        The pipeline is built in the config's scope (``inference_detector`` itself needs it to be the
        default scope, which ``init_detector`` sets globally; here it is set for the call only).
        """
        from mmdet.apis import inference_detector
        from mmengine.registry import DefaultScope

        with DefaultScope.overwrite_default_scope(self.cfg.get('default_scope', 'mmdet')):
            return inference_detector(self, images)

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, data_samples: Sequence, rescale: bool = True) -> list:
        """Detections for a preprocessed batch, added to ``data_samples`` as ``pred_instances``."""
        features, head_outputs = split_outputs(self.run_network(inputs), self.layout)
        metas = batch_img_metas(data_samples)
        head = dense_head(self.detector)
        if self.layout['part'] == 'single_stage':
            results = head.predict_by_feat(*head_outputs, batch_img_metas=metas, rescale=rescale)
        else:
            proposals = head.predict_by_feat(*head_outputs, batch_img_metas=metas, rescale=False)
            results = self.detector.roi_head.predict(features, proposals, data_samples, rescale=rescale)
        return self.detector.add_pred_to_datasample(data_samples, results)

    def forward(self, inputs: torch.Tensor, data_samples: Optional[Sequence] = None, mode: str = 'predict'):
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.run_network(inputs)
        raise ValueError(f"mode must be one of ['predict', 'tensor'] for an ONNX model, got {mode!r}")

    # ---------------------------------------------------------------------------- the network
    def run_network(self, inputs: torch.Tensor) -> List[torch.Tensor]:
        """The exported network's raw outputs for a preprocessed (normalised, padded) batch.

        A file exported with a fixed shape takes batches of exactly that size: smaller images are
        padded (bottom and right, with the preprocessor's pad value, as mmdet pads a batch), one
        image at a time when the file's batch is 1.
        """
        if self.input_shape is None:
            return run_session(self.session, inputs)
        batch, _, height, width = self.input_shape
        if inputs.shape[2] > height or inputs.shape[3] > width:
            raise ValueError(
                f'this ONNX file takes images up to {height}x{width} (its export --shape); got a '
                f'{inputs.shape[2]}x{inputs.shape[3]} batch: export with a larger --shape or --dynamic'
            )
        padded = F.pad(
            inputs,
            (0, width - inputs.shape[3], 0, height - inputs.shape[2]),
            value=float(self.data_preprocessor.pad_value),
        )
        if inputs.shape[0] == batch:
            return run_session(self.session, padded)
        if batch != 1:
            raise ValueError(f'this ONNX file takes batches of exactly {batch} images, got {inputs.shape[0]}')
        per_image = [run_session(self.session, image[None]) for image in padded]
        return [torch.cat(outputs) for outputs in zip(*per_image)]


__all__ = ['ONNXRuntimeDetector']
