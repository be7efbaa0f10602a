# Table 6 (e) of the RLA-Net paper: post-activated recurrent unit, h = tanh(BN(Conv3x3(h + Conv1x1(.)))), and the
# classifier reads concat(x, h) (the authors' resnet_rla_v1post.py; 25,870,632 parameters). Paper: 23.11% top-1
# error.
_base_ = './rla-resnet50_4xb64_in1k.py'

model = dict(backbone=dict(rla_activation='post'))
