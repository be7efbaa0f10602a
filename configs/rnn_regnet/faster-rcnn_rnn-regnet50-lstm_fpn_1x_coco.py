# Faster R-CNN with a RegNet-50 backbone (RNN-regulated ResNet, ConvLSTM regulators), FPN, 1x schedule,
# COCO 2017. The RegNet paper reports ImageNet/CIFAR classification only: no detection results.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmdet_rla'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='RNNRegNet',
        depth=50,
        regulator='lstm',
        regulator_conv='light',  # the paper's two-step grouped convolution
        state_transition='conv3x3',  # learned 3x3 stride-2 conv on (h, c) between stages
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        style='pytorch',
        norm_cfg=dict(type='BN', requires_grad=True),
        # No ImageNet weights of RegNet exist: the trunk starts from torchvision's ImageNet ResNet-50
        # (docs/weights.md). The regulators start as init_weights makes them and the fusion convs as
        # identities on the features and zeros on H, so at step 0 the network is that ResNet-50.
        init_cfg=dict(type='ResNetWarmStart', checkpoint='torchvision://resnet50'),
        # mmdet's ResNet-50 fine-tuning: frozen stem and first stage, frozen BN statistics ...
        frozen_stages=1,
        norm_eval=True,
        # ... but the regulator parts of the first stage, which no checkpoint trained, train.
        freeze_added_parts=False,
    )
)

# mmdet's 1x recipe: 16 images per step at lr 0.02; --auto-scale-lr rescales for other batch sizes.
auto_scale_lr = dict(enable=False, base_batch_size=16)

# Training that survives interruption (mmdet_rla/engine; docs/training.md, "Interruptions and resuming"): exact
# resume, a checkpoint on SIGTERM/SIGUSR1 (exit status 75) and crash-safe checkpoint files.
train_cfg = dict(type='ResumableEpochBasedTrainLoop')
default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'), logger=dict(type='MainProcessLoggerHook'))
