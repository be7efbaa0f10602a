# RegNet-20 (ConvGRU regulators) on CIFAR-10, the RegNet CIFAR recipe (see rnn-regnet20-convlstm_1xb64_cifar10.py).
# Paper test error: 7.42% (ResNet-20: 8.38%).
_base_ = './rnn-regnet20-convlstm_1xb64_cifar10.py'

model = dict(backbone=dict(regulator='gru'))
