"""``python -m mmdet_rla.gpu_check``: see :mod:`mmdet_rla.gpu_check`."""
import sys

from mmdet_rla.tools_support.arguments import exit_on_user_error

from . import main

with exit_on_user_error('gpu_check'):
    sys.exit(main())
