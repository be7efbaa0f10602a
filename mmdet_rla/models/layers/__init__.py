from .activation import tanh
from .channel_attention import ECALayer, SELayer, build_channel_attention
from .concat_conv import conv_over_concat
from .conv_rnn import ConvGRUCell, ConvLSTMCell, ConvRNNCell, LightRecurrentConv, build_conv_rnn_cell
from .folding import fold_projection
from .pooling import CeilAvgPool2d, ceil_avg_pool2d

__all__ = [
    'tanh',
    'SELayer',
    'ECALayer',
    'build_channel_attention',
    'conv_over_concat',
    'fold_projection',
    'ConvRNNCell',
    'ConvGRUCell',
    'ConvLSTMCell',
    'LightRecurrentConv',
    'build_conv_rnn_cell',
    'CeilAvgPool2d',
    'ceil_avg_pool2d',
]
