# Table 6 (d) of the RLA-Net paper: a ConvLSTM cell (one 3x3 conv over [u, h], no bias) as the recurrent unit,
# reading u = tanh(BN(Conv1x1(.))); the classifier reads concat(x, h) (the authors' resnet_rla_lstm.py;
# 26,128,680 parameters). Paper: 22.92% top-1 error, 5.00 GFLOPs.
_base_ = './rla-resnet50_4xb64_in1k.py'

model = dict(backbone=dict(rla_cell='lstm'))
