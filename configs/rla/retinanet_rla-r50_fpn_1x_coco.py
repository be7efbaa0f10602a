# RetinaNet with an RLA-ResNet-50 backbone, FPN, 1x schedule, COCO 2017 (RLA-Net paper, Table 4).
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_rla'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='RLAResNet',
        depth=50,
        rla_channels=32,
        # The authors' ImageNet weights were trained with the block output feeding the RLA path
        # (an in-place alias in their code); keep 'output' when starting from them.
        rla_input='output',
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        # Made from the authors' released ImageNet weights by
        # tools/model_converters/rlanet2mmdet.py (see docs/rla.md).
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/rla-resnet50_in1k_official.pth'),
    )
)

# The paper trains with 8 images per step at lr 0.01, the linear-scaling equivalent of mmdet's
# 16 images at 0.02; --auto-scale-lr rescales for other batch sizes.
auto_scale_lr = dict(enable=False, base_batch_size=16)

# Training that survives interruption (mmdet_rla/engine; docs/training.md, "Interruptions and resuming"): exact
# resume, a checkpoint on SIGTERM/SIGUSR1 (exit status 75) and crash-safe checkpoint files.
train_cfg = dict(type='ResumableEpochBasedTrainLoop')
default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'), logger=dict(type='MainProcessLoggerHook'))
