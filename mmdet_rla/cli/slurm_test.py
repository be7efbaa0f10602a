"""Testing on a Slurm cluster: ``mmdet-rla slurm-test PARTITION JOB_NAME CONFIG CHECKPOINT [test arguments...]``.

Runs the package's copy of ``tools/slurm_test.sh`` (its comments say what the environment variables
and the exit status mean); the workers run ``python -m mmdet_rla.cli.test``.
"""

from typing import List, Optional

from mmdet_rla.cli import run_launcher
from mmdet_rla.tools_support.arguments import run_tool


def main(argv: Optional[List[str]] = None) -> None:
    run_launcher('slurm_test.sh', argv)


if __name__ == '__main__':
    run_tool(main)
