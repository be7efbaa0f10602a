# SE-RegNet-20 (ConvGRU regulators) on CIFAR-10, the RegNet CIFAR recipe (see rnn-regnet20-convlstm_1xb64_cifar10.py).
# SE on every block's residual branch, reduction 8 (the paper's CIFAR setting).
# Paper test error: 7.25% (SE-ResNet-20: 8.02%).
_base_ = './rnn-regnet20-convlstm_1xb64_cifar10.py'

model = dict(backbone=dict(regulator='gru', with_se=True, se_reduction=8))
