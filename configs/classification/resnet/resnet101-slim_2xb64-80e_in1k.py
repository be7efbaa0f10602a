# Slim ResNet-101 (every width halved: stem 32, stages 32..256 base channels, 1024 output channels), the RoR
# paper's "ResNet-101s" baseline (Table 5), with its ImageNet recipe (see resnet101_2xb64-80e_in1k.py).
# 11,678,728 parameters (the paper lists 11.3M; it does not say whether its stem is halved too).
_base_ = './resnet101_2xb64-80e_in1k.py'

model = dict(backbone=dict(stem_channels=32, base_channels=32), head=dict(in_channels=1024))
