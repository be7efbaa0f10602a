# RetinaNet with a RegNet-50 backbone whose regulators are ConvGRUs (no hidden cell state, so the
# stage transitions map h only), FPN, 1x schedule, COCO 2017.
_base_ = './retinanet_rnn-regnet50-lstm_fpn_1x_coco.py'

model = dict(backbone=dict(regulator='gru'))
