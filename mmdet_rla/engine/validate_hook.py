"""``ValidateBeforeTrainHook``: the validation metrics of the model a run starts from."""

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class ValidateBeforeTrainHook(Hook):
    """Run the validation loop once before the first training iteration of a run (not after a resume).

    What a warm start promises is checked here: the metrics at iteration 0 of a family started from an
    ImageNet ResNet (``init_cfg=dict(type='ResNetWarmStart', ...)``) are the ResNet's. They are logged and
    recorded like every later validation, at epoch 0 / iteration 0::

        custom_hooks = [dict(type='ValidateBeforeTrainHook')]
    """

    priority = 'LOWEST'  # after every other before_train (weights initialised, checkpoints resumed)

    def before_train(self, runner) -> None:
        if runner.iter == 0 and runner.val_loop is not None:
            runner.val_loop.run()


__all__ = ['ValidateBeforeTrainHook']
