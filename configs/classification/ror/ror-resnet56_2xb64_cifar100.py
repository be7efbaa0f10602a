# RoR-ResNet-56 on CIFAR-100, the RoR CIFAR recipe (see ror-resnet56_2xb64_cifar10.py).
# Paper test error: 23.93% (ResNet-56: 26.95%, with stochastic depth: 27.02%).
_base_ = './ror-resnet56_2xb64_cifar10.py'

data_preprocessor = dict(num_classes=100, mean=[129.304, 124.070, 112.434], std=[68.170, 65.392, 70.418])
model = dict(head=dict(num_classes=100))
train_dataloader = dict(dataset=dict(type='CIFAR100', data_root='data/cifar100'))
val_dataloader = dict(dataset=dict(type='CIFAR100', data_root='data/cifar100'))
test_dataloader = dict(dataset=dict(type='CIFAR100', data_root='data/cifar100'))
