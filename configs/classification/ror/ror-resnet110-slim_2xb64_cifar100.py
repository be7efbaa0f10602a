# Slim RoR-ResNet-110 (widths halved) on CIFAR-100, the RoR CIFAR recipe (see ror-resnet56_2xb64_cifar10.py).
# Paper test error: 26.35% (Residual: 28.79%, SDepth: 27.45%).
_base_ = './ror-resnet56_2xb64_cifar100.py'

model = dict(backbone=dict(depth=110, slim=True), head=dict(in_channels=256))
