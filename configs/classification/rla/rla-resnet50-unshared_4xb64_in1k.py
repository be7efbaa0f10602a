# Table 6 (b) of the RLA-Net paper: RLA-ResNet-50 without parameter sharing, every block with its own 1x1 conv,
# recurrent 3x3 conv and BN (the authors' resnet_rla_us.py; 26,341,736 parameters). That file has no in-place
# alias, so the 1x1 conv reads the true residual y. Paper: 22.93% top-1 error (proposed, shared: 22.83%).
_base_ = './rla-resnet50_4xb64_in1k.py'

model = dict(backbone=dict(share_rla=False, rla_input='residual'))
