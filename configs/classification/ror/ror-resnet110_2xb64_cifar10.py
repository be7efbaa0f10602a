# RoR-ResNet-110 on CIFAR-10, the RoR CIFAR recipe (see ror-resnet56_2xb64_cifar10.py).
# Paper test error: 4.66% (Residual: 5.91%, SDepth: 5.39%).
_base_ = './ror-resnet56_2xb64_cifar10.py'

model = dict(backbone=dict(depth=110))
