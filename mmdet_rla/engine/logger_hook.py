"""``MainProcessLoggerHook``: mmengine's ``LoggerHook`` whose test-metrics file is written once.

mmengine's ``LoggerHook.after_test_epoch`` (0.10.x, and its main branch at the time of writing) dumps
the test metrics to ``<work_dir>/<timestamp>/<timestamp>.json`` on *every* process, and every process
has the same path (the timestamp is broadcast from rank 0). The metrics agree across ranks (they are
gathered before), but the ``time``/``data_time`` figures are each process's own, so the lines differ
in length, and two truncating writes racing on one file can leave a line of one with the tail of the
other, e.g. ``{"accuracy/top1": 97.5, ..., "time": 0.0434}}``: unreadable JSON. Seen in a 2-process
``tools/dist_test.sh`` run on CPU. Here the main process alone writes the file; everything else is
mmengine's ``LoggerHook`` (training and validation already log through the main process only).
"""

from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import LoggerHook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class MainProcessLoggerHook(LoggerHook):
    """mmengine's ``LoggerHook`` (same arguments) whose test metrics are logged and dumped by the main process.

    Config: ``default_hooks = dict(logger=dict(type='MainProcessLoggerHook', interval=50))``.
    """

    def after_test_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        # The other processes' loggers print nothing and their metrics are the main process's:
        # only their file writes would remain, racing on the main process's file.
        if is_main_process():
            super().after_test_epoch(runner, metrics)
