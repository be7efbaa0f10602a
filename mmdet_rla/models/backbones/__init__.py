from .base import ResNetBase, StatefulLayer
from .rla_resnet import RLABasicBlock, RLABottleneck, RLAResNet, RLAStage

__all__ = ['ResNetBase', 'StatefulLayer', 'RLAResNet', 'RLABasicBlock', 'RLABottleneck', 'RLAStage']
from .rnn_regnet import RegBasicBlock, RegBottleneck, RegulatedStage, RNNRegNet  # noqa: E402,F401
from .ror import RoRBasicBlock, RoRBottleneck, RoRResNet, RoRResNeXt, RoRResNeXtBottleneck  # noqa: E402,F401
__all__ += ['RoRResNet', 'RoRResNeXt', 'RoRBasicBlock', 'RoRBottleneck', 'RoRResNeXtBottleneck']
