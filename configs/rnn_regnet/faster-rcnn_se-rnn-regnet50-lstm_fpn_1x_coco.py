# Faster R-CNN with an SE-RegNet-50 backbone (ConvLSTM regulators plus squeeze-and-excitation in every
# block, reduction 16 on ImageNet-style nets; the paper's CIFAR nets use 8), FPN, 1x, COCO 2017.
_base_ = './faster-rcnn_rnn-regnet50-lstm_fpn_1x_coco.py'

model = dict(backbone=dict(with_se=True, se_reduction=16))
