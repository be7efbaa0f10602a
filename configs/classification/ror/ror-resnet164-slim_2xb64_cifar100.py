# Slim RoR-ResNet-164 (widths halved) on CIFAR-100, the RoR CIFAR recipe (see ror-resnet56_2xb64_cifar10.py).
# Paper test error: 24.18% (Residual: 27.76%, SDepth: 24.98%).
_base_ = './ror-resnet56_2xb64_cifar100.py'

model = dict(backbone=dict(depth=164, slim=True), head=dict(in_channels=256))
