# RLA-ECA-ResNet-101 on ImageNet-1k: ECA in every block (1-D kernel sizes 5, 5, 5, 7 per stage, the
# authors' choice), then RLA; the RLA-Net recipe (see rla-resnet50_4xb64_in1k.py). Paper top-1 error: 21.13%.
_base_ = './rla-resnet101_4xb64_in1k.py'

model = dict(backbone=dict(channel_attention='eca', eca_kernel_sizes=(5, 5, 5, 7)))
