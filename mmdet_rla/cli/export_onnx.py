"""Export a detector to ONNX: ``python tools/deployment/export_onnx.py CONFIG CHECKPOINT --out FILE``.

Exports the network up to the dense head's raw outputs (single-stage detectors: backbone, neck and
``bbox_head``; two-stage detectors: backbone, neck and ``rpn_head``, with the neck's feature maps
as outputs for the RoI stage), checks the file with onnxruntime against PyTorch on a generated image
and prints the largest difference. Run it with ``mmdet_rla.deploy.ONNXRuntimeDetector`` (mmdet's
post-processing on top) or ``tools/deployment/test_onnx.py`` (COCO evaluation).

Options: ``--shape H W`` (default: the test pipeline's Resize scale, padded as the data preprocessor
pads), ``--dynamic`` (batch, height and width symbolic), ``--part backbone`` (the backbone alone),
``--device cuda`` (check with onnxruntime's CUDA provider).
"""

import argparse

from mmdet_rla.deploy.export import PARTS, export_model
from mmdet_rla.tools_support.arguments import CfgOptions, run_tool


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export a detector (or its backbone) to ONNX')
    parser.add_argument('config', help='the detector config file')
    parser.add_argument('checkpoint', help="the checkpoint, or 'none' for the randomly initialised model")
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument(
        '--shape', nargs=2, metavar=('H', 'W'), help="input height and width (default: the config's test Resize scale)"
    )
    parser.add_argument('--dynamic', action='store_true', help='symbolic batch, height and width')
    parser.add_argument('--part', choices=PARTS, default='detector', help='what to export')
    parser.add_argument(
        '--device', default='cpu', help='the device onnxruntime checks the file on (cpu, cuda, cuda:1, ...)'
    )
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptions, help='override config settings, key=value')
    return parser.parse_args(argv)


def parse_shape(values):
    """``--shape`` strings as two ints (the range check is ``check_shape``'s)."""
    if values is None:
        return None
    try:
        return [int(v) for v in values]
    except ValueError:
        raise ValueError(f'--shape must be two positive integers H W, got {values!r}') from None


def main(argv=None) -> dict:
    args = parse_args(argv)
    checkpoint = None if args.checkpoint.lower() == 'none' else args.checkpoint
    report = export_model(
        args.config,
        checkpoint,
        args.out,
        shape=parse_shape(args.shape),
        dynamic=args.dynamic,
        part=args.part,
        cfg_options=args.cfg_options,
        device=args.device,
    )
    layout = report['layout']
    what = layout['part'] if args.part == 'detector' else f'backbone ({layout["backbone"]})'
    print(
        f'exported {layout["detector"]} [{what}] to {args.out}: input '
        f'{"N x 3 x H x W (dynamic)" if args.dynamic else "x".join(map(str, layout["input_shape"]))}'
    )
    print(
        f'onnxruntime ({args.device}) vs PyTorch on {", ".join("x".join(map(str, s)) for s in report["checked"])}: '
        f'largest difference {report["difference"]:.3g}'
    )
    return report


if __name__ == '__main__':
    run_tool(main)
