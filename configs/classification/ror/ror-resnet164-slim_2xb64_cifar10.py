# Slim RoR-ResNet-164 (widths halved) on CIFAR-10, the RoR CIFAR recipe (see ror-resnet56_2xb64_cifar10.py).
# Paper test error: 4.84% (Residual: 6.52%, SDepth: 5.25%).
_base_ = './ror-resnet56_2xb64_cifar10.py'

model = dict(backbone=dict(depth=164, slim=True), head=dict(in_channels=256))
