from .base import ResNetBase, StatefulLayer
from .rla_mobilenet_v2 import RLAInvertedResidual, RLAInvertedResidualLayer, RLAMobileNetV2
from .rla_resnet import RLABasicBlock, RLABottleneck, RLADesign, RLAResNet, RLAResNeXt, RLAResNeXtBottleneck, RLAStage
from .rnn_regnet import RegBasicBlock, RegBottleneck, RegulatedStage, RNNRegNet, UnregulatedStage
from .ror import RoRBasicBlock, RoRBottleneck, RoRResNet, RoRResNeXt, RoRResNeXtBottleneck

__all__ = [
    'ResNetBase',
    'StatefulLayer',
    'RLAResNet',
    'RLAResNeXt',
    'RLABasicBlock',
    'RLABottleneck',
    'RLAResNeXtBottleneck',
    'RLAStage',
    'RLADesign',
    'RLAMobileNetV2',
    'RLAInvertedResidual',
    'RLAInvertedResidualLayer',
    'RNNRegNet',
    'RegBasicBlock',
    'RegBottleneck',
    'RegulatedStage',
    'UnregulatedStage',
    'RoRResNet',
    'RoRResNeXt',
    'RoRBasicBlock',
    'RoRBottleneck',
    'RoRResNeXtBottleneck',
]
