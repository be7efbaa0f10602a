"""``python -m mmdet_rla.gpu_check``: see :mod:`mmdet_rla.gpu_check`."""

import sys

from mmdet_rla.tools_support.arguments import exit_on_user_error

from . import main

sys.argv[0] = 'gpu_check'  # the program's name in argparse's usage and errors (not __main__.py)
with exit_on_user_error('gpu_check'):
    sys.exit(main())
