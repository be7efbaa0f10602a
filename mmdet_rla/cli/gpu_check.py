"""``mmdet-rla gpu-check``: the one-command GPU self-test of :mod:`mmdet_rla.gpu_check` (``tools/gpu_check.sh``)."""

from mmdet_rla.gpu_check import main
from mmdet_rla.tools_support.arguments import run_tool

if __name__ == '__main__':
    run_tool(main)
