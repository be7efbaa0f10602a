# RegNet-50 with ConvGRU regulators on ImageNet-1k, the RegNet recipe (see rnn-regnet50-convlstm_4xb32_in1k.py).
# The paper reports ImageNet results for its ConvLSTM net only; 29,721,768 parameters.
_base_ = './rnn-regnet50-convlstm_4xb32_in1k.py'

model = dict(backbone=dict(regulator='gru'))
