# RLA-ResNet-20 (tiny) started from the trained ResNet-20 of the warm-start demo (tools/run_warmstart_demo.sh):
# every ResNet tensor from its checkpoint, the RLA parts as init_weights makes them and each block's h-columns at
# zero (init_cfg type ResNetWarmStart), the classifier head the ResNet's. At step 0 it computes the ResNet's
# function, which ValidateBeforeTrainHook shows as the ResNet's accuracy at epoch 0; then 6 epochs at a
# fine-tuning learning rate train everything, the new parts included.
_base_ = './rla-resnet20-tiny_1xb16_synthetic-patterns.py'

resnet_checkpoint = 'work_dirs/warmstart_demo/resnet20/epoch_4.pth'
model = dict(
    backbone=dict(
        # The classifier reads x as the ResNet's does (not concat(x, h)), so that its head is the ResNet's.
        with_rla_output=False,
        init_cfg=dict(type='ResNetWarmStart', checkpoint=resnet_checkpoint, prefix='backbone.'),
    ),
    head=dict(in_channels=32, init_cfg=dict(type='Pretrained', checkpoint=resnet_checkpoint, prefix='head.')),
)

optim_wrapper = dict(optimizer=dict(lr=0.02))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=6, eta_min=1e-3)]
train_cfg = dict(max_epochs=6, val_interval=1)
default_hooks = dict(checkpoint=dict(interval=6))
custom_hooks = [dict(type='ValidateBeforeTrainHook')]
