# RegNet-32 (ConvGRU regulators) on CIFAR-10, the RegNet CIFAR recipe (see rnn-regnet20-convlstm_1xb64_cifar10.py).
# Paper test error: 6.60% (ResNet-32: 7.54%).
_base_ = './rnn-regnet20-convlstm_1xb64_cifar10.py'

model = dict(backbone=dict(depth=32, regulator='gru'))
