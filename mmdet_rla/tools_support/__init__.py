"""Package-side helpers of the command-line tools in ``tools/``.

- :mod:`.launch`: the distributed set-up (gloo on CPU-only machines, mmengine's own NCCL path otherwise);
- :mod:`.checkpoint`: the checkpoint-loading policy under torch >= 2.6 (``weights_only`` loads);
- :mod:`.scope`: registering the modules of the package a config's ``default_scope`` names.
"""
