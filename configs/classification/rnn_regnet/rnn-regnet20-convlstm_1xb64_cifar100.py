# RegNet-20 (ConvLSTM) on CIFAR-100, the RegNet CIFAR recipe (see rnn-regnet20-convlstm_1xb64_cifar10.py).
# Paper test error: 29.81% (ResNet-20: 31.72%).
_base_ = './rnn-regnet20-convlstm_1xb64_cifar10.py'

data_preprocessor = dict(num_classes=100, mean=[129.304, 124.070, 112.434], std=[68.170, 65.392, 70.418])
model = dict(head=dict(num_classes=100))
train_dataloader = dict(dataset=dict(type='CIFAR100', data_root='data/cifar100'))
val_dataloader = dict(dataset=dict(type='CIFAR100', data_root='data/cifar100'))
test_dataloader = dict(dataset=dict(type='CIFAR100', data_root='data/cifar100'))
