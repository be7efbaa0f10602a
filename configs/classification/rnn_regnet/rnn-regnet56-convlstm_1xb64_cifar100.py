# RegNet-56 (ConvLSTM regulators) on CIFAR-100, the RegNet CIFAR recipe (see rnn-regnet20-convlstm_1xb64_cifar10.py).
# Paper test error: 27.26% (ResNet-56: 28.14%).
_base_ = './rnn-regnet20-convlstm_1xb64_cifar100.py'

model = dict(backbone=dict(depth=56))
