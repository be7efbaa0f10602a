# Demo: FCOS with a small RLA-ResNet-18 trained from scratch on the synthetic shapes dataset
# (mmdet_rla.datasets.synthetic_coco). tools/run_demo.sh generates its data with
# `python tools/misc/make_coco_dataset.py work_dirs/demo/data --num-train 1000 --max-objects 8`.
#
# Sized to learn on 2 CPU cores in a few minutes: 160 px images, 16 base channels, a 64-channel
# FPN and a 2-conv GN head; 6 epochs of 1000 images in batches of 4 (1500 iterations).
# What limited the detector was data, not the recipe: on 200 images of up to 4 objects it stayed at
# 0.24 bbox mAP after 600 iterations and 0.46 after 1800; 1000 images of up to 8 objects (3.8 per image
# instead of 2.4) give about 0.6 mAP in 1500 iterations
# (docs/demo.md). Why FCOS: measured on this data at 300 iterations from scratch,
# FCOS (GN head, centre sampling, GIoU) reached 0.16 bbox mAP where RetinaNet stayed at 0.01
# (with or without a GN head), and a Faster R-CNN step cost 4x as much on CPU (RoIAlign's
# backward pass).
_base_ = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head-center-normbbox-centeronreg-giou_1x_coco.py'
custom_imports = dict(imports=['mmdet_rla'], allow_failed_imports=False)

data_root = 'work_dirs/demo/data/'
image_size = (160, 160)  # (height, width) of the generated images
metainfo = dict(classes=('circle', 'rectangle', 'triangle'), palette=[(220, 20, 60), (0, 130, 230), (60, 180, 75)])
base_channels = 16
fpn_channels = 64

model = dict(
    # torchvision-style normalisation (the base config's caffe values suit caffe weights only)
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(
        _delete_=True,
        type='RLAResNet',
        depth=18,
        base_channels=base_channels,
        rla_channels=16,
        out_indices=(0, 1, 2, 3),  # the FCOS neck starts at C3 (start_level=1)
        frozen_stages=-1,  # trained from scratch: nothing to freeze
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,  # BN statistics are learnt here, not inherited
        init_cfg=None,
    ),
    neck=dict(
        in_channels=[base_channels, base_channels * 2, base_channels * 4, base_channels * 8], out_channels=fpn_channels
    ),
    bbox_head=dict(
        num_classes=len(metainfo['classes']),
        in_channels=fpn_channels,
        feat_channels=fpn_channels,
        stacked_convs=2,
        norm_cfg=dict(type='GN', num_groups=16, requires_grad=True),
        # Objects are 20-70 px: COCO's first range (up to 64) would put nearly all of them on P3.
        regress_ranges=((-1, 48), (48, 96), (96, 192), (192, 384), (384, 1e8)),
    ),
    test_cfg=dict(nms_pre=300, max_per_img=20),
)

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_size[::-1], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=image_size[::-1], keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    # At equal compute, 600 steps of 4 images beat 300 of 8 (bbox mAP 0.26 vs 0.19, on 200 images).
    batch_size=4,
    num_workers=0,  # tiny PNGs: worker processes would cost more than they save on 2 cores
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json', metric='bbox')
test_evaluator = val_evaluator

max_epochs = 6
# Exact resume, a checkpoint on SIGTERM/SIGUSR1 (exit status 75) and crash-safe checkpoint files:
# mmdet_rla/engine, README "Interruptions and resuming".
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
# From scratch, AdamW with a short warm-up converges in far fewer steps than the 1x SGD recipe.
# fused: one kernel for all parameters (1.5 ms a step on CPU instead of 8 ms for the per-tensor loop).
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05, fused=True),
    clip_grad=dict(max_norm=10, norm_type=2),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        T_max=max_epochs,
        eta_min_ratio=0.05,
        convert_to_iter_based=True,
    ),
]
default_hooks = dict(
    logger=dict(type='MainProcessLoggerHook', interval=10),
    checkpoint=dict(type='ResumableCheckpointHook', interval=max_epochs, max_keep_ckpts=1),
)
auto_scale_lr = dict(enable=False, base_batch_size=4)
