# SE-RegNet-20 (ConvLSTM regulators) on CIFAR-100, the RegNet CIFAR recipe (see rnn-regnet20-convlstm_1xb64_cifar10.py).
# SE on every block's residual branch, reduction 8 (the paper's CIFAR setting).
# Paper test error: 29.02% (SE-ResNet-20: 31.14%).
_base_ = './rnn-regnet20-convlstm_1xb64_cifar100.py'

model = dict(backbone=dict(with_se=True, se_reduction=8))
