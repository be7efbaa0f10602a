from .base import ResNetBase, StatefulLayer
from .rla_resnet import RLABasicBlock, RLABottleneck, RLAResNet, RLAStage

__all__ = ['ResNetBase', 'StatefulLayer', 'RLAResNet', 'RLABasicBlock', 'RLABottleneck', 'RLAStage']
