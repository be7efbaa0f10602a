# RegNet-56 (ConvLSTM regulators) on CIFAR-10, the RegNet CIFAR recipe (see rnn-regnet20-convlstm_1xb64_cifar10.py).
# Paper test error: 6.45% (ResNet-56: 6.78%).
_base_ = './rnn-regnet20-convlstm_1xb64_cifar10.py'

model = dict(backbone=dict(depth=56))
