# RoR-ResNet-164 on CIFAR-10, the RoR CIFAR recipe (see ror-resnet56_2xb64_cifar10.py).
# Paper test error: 4.54% (Residual: 5.41%, SDepth: 4.78%).
_base_ = './ror-resnet56_2xb64_cifar10.py'

model = dict(backbone=dict(depth=164))
