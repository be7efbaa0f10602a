_base_ = './faster-rcnn_rla-r50_fpn_1x_coco.py'

# ECA inside every block (kernel sizes 5, 5, 5, 7 per stage), its output feeding the RLA path.
model = dict(
    backbone=dict(
        channel_attention='eca',
        eca_kernel_sizes=(5, 5, 5, 7),
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/rla-eca-resnet50_in1k_official.pth'),
    )
)
