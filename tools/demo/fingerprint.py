"""``python tools/demo/fingerprint.py ...``: :mod:`mmdet_rla.cli.fingerprint` run from a checkout.

The tool lives in the package: installed, it runs as ``mmdet-rla fingerprint`` or
``python -m mmdet_rla.cli.fingerprint``, with the same arguments. This script keeps the checkout's
command line working without installing.
"""

import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # the repo, without installing

from mmdet_rla.cli.fingerprint import *  # noqa: E402,F401,F403  (its functions, for importers of this file)
from mmdet_rla.cli.fingerprint import main  # noqa: E402
from mmdet_rla.tools_support.arguments import run_tool  # noqa: E402

if __name__ == '__main__':
    run_tool(main)
