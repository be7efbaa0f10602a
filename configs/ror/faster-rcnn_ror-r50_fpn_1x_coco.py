# Faster R-CNN with a RoR-ResNet-50 backbone (Refine or Represent, Shen & Gao, IJCAI 2018), FPN,
# 1x schedule, COCO 2017. The paper reports classification only: no COCO numbers to reproduce.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_rla'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='RoRResNet',
        depth=50,
        # Paper defaults (Sec. 4.1): 5% Represent channels per block, drop-layer rate 0.2 on the
        # Refine channels while training (inverted scaling: the test-time network is the plain one).
        represent_ratio=0.05,
        refine_drop_rate=0.2,
        drop_scaling='inverted',
        # The Represent channels are drawn from a generator seeded here, never from the global RNG:
        # every rank and every run builds the same masks, and checkpoints carry them.
        seed=0,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        # RoR adds no parameters: every tensor comes from ImageNet ResNet-50 weights (the masks, absent
        # from them, come from ``seed``). The Represent channels lose their shortcut, so unlike RLA and
        # RegNet the network does not start as that ResNet: by design (docs/weights.md). To start from a
        # RoR ImageNet checkpoint use init_cfg=dict(type='Pretrained', ...) (its masks replace the seeded).
        init_cfg=dict(type='ResNetWarmStart', checkpoint='torchvision://resnet50'),
    )
)

auto_scale_lr = dict(enable=False, base_batch_size=16)

# Training that survives interruption (mmdet_rla/engine; docs/training.md, "Interruptions and resuming"): exact
# resume, a checkpoint on SIGTERM/SIGUSR1 (exit status 75) and crash-safe checkpoint files.
train_cfg = dict(type='ResumableEpochBasedTrainLoop')
default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'), logger=dict(type='MainProcessLoggerHook'))
