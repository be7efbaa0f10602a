"""``python -m mmdet_rla.cli TOOL ARGS...``: the ``mmdet-rla`` command."""

from mmdet_rla.cli import main

main()
