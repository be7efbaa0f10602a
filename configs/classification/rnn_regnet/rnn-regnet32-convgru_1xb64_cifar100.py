# RegNet-32 (ConvGRU regulators) on CIFAR-100, the RegNet CIFAR recipe (see rnn-regnet20-convlstm_1xb64_cifar10.py).
# Paper test error: 27.42% (ResNet-32: 29.86%).
_base_ = './rnn-regnet20-convlstm_1xb64_cifar100.py'

model = dict(backbone=dict(depth=32, regulator='gru'))
