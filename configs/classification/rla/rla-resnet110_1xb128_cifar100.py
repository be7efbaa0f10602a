# RLA-ResNet-110 on CIFAR-100, same recipe as rla-resnet110_1xb128_cifar10.py. Paper test error: 27.44%
# (ResNet-110 re-implemented: 28.51%).
_base_ = './rla-resnet110_1xb128_cifar10.py'

data_preprocessor = dict(num_classes=100, mean=[129.304, 124.070, 112.434], std=[68.170, 65.392, 70.418])
model = dict(head=dict(num_classes=100))
train_dataloader = dict(dataset=dict(type='CIFAR100', data_root='data/cifar100'))
val_dataloader = dict(dataset=dict(type='CIFAR100', data_root='data/cifar100'))
test_dataloader = dict(dataset=dict(type='CIFAR100', data_root='data/cifar100'))
