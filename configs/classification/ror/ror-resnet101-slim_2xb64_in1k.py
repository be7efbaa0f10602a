# Slim RoR-ResNet-101 (every width halved; 1024 output channels) on ImageNet-1k, the RoR recipe (see
# ror-resnet101_2xb64_in1k.py). Paper top-1 error: 23.38% (slim ResNet-101: 24.33%).
_base_ = './ror-resnet101_2xb64_in1k.py'

model = dict(backbone=dict(slim=True), head=dict(in_channels=1024))
