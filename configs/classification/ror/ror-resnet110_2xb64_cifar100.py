# RoR-ResNet-110 on CIFAR-100, the RoR CIFAR recipe (see ror-resnet56_2xb64_cifar10.py).
# Paper test error: 22.77% (Residual: 25.10%, SDepth: 24.31%).
_base_ = './ror-resnet56_2xb64_cifar100.py'

model = dict(backbone=dict(depth=110))
