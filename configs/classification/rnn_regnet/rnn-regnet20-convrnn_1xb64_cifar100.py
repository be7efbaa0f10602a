# RegNet-20 (ConvRNN regulators) on CIFAR-100, the RegNet CIFAR recipe (see rnn-regnet20-convlstm_1xb64_cifar10.py).
# Paper test error: 30.03% (ResNet-20: 31.72%).
_base_ = './rnn-regnet20-convlstm_1xb64_cifar100.py'

model = dict(backbone=dict(regulator='rnn'))
