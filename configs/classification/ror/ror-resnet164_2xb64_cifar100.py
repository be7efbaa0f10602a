# RoR-ResNet-164 on CIFAR-100, the RoR CIFAR recipe (see ror-resnet56_2xb64_cifar10.py).
# Paper test error: 21.58% (Residual: 23.18%, SDepth: 22.68%).
_base_ = './ror-resnet56_2xb64_cifar100.py'

model = dict(backbone=dict(depth=164))
