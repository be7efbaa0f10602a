"""``python tools/demo/draw_detections.py ...``: :mod:`mmdet_rla.cli.draw_detections` run from a checkout.

The tool lives in the package: installed, it runs as ``mmdet-rla draw-detections`` or
``python -m mmdet_rla.cli.draw_detections``, with the same arguments. This script keeps the checkout's
command line working without installing.
"""

import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # the repo, without installing

from mmdet_rla.cli.draw_detections import *  # noqa: E402,F401,F403  (its functions, for importers of this file)
from mmdet_rla.cli.draw_detections import main  # noqa: E402
from mmdet_rla.tools_support.arguments import run_tool  # noqa: E402

if __name__ == '__main__':
    run_tool(main)
