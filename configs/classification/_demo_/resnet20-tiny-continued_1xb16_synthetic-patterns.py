# The control of the warm-start demo (tools/run_warmstart_demo.sh): the trained ResNet-20 (tiny) itself, continued
# with the same fine-tuning schedule as the RLA and RegNet nets started from it
# (rla-resnet20-tiny-warmstart_1xb16_synthetic-patterns.py), evaluated before its first step and after each epoch.
_base_ = './resnet20-tiny_1xb16_synthetic-patterns.py'

resnet_checkpoint = 'work_dirs/warmstart_demo/resnet20/epoch_4.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=resnet_checkpoint, prefix='backbone.')),
    head=dict(init_cfg=dict(type='Pretrained', checkpoint=resnet_checkpoint, prefix='head.')),
)

optim_wrapper = dict(optimizer=dict(lr=0.02))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=6, eta_min=1e-3)]
train_cfg = dict(max_epochs=6, val_interval=1)
default_hooks = dict(checkpoint=dict(interval=6))
custom_hooks = [dict(type='ValidateBeforeTrainHook')]
