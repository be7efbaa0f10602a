"""Distributed training with torchrun: ``mmdet-rla dist-train CONFIG GPUS [train arguments...]``.

Runs the package's copy of ``tools/dist_train.sh`` (its comments say what the environment variables
and the exit status mean); the workers run ``python -m mmdet_rla.cli.train``.
"""

from typing import List, Optional

from mmdet_rla.cli import run_launcher
from mmdet_rla.tools_support.arguments import run_tool


def main(argv: Optional[List[str]] = None) -> None:
    run_launcher('dist_train.sh', argv)


if __name__ == '__main__':
    run_tool(main)
