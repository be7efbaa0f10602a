# Table 6 (f) of the RLA-Net paper, RLA-v2: y is added to h after the recurrent unit, h = R(h) + Conv1x1(y)
# (Figure 4; the authors' resnet_rla_v2.py; 25,870,696 parameters). Paper: 23.24% top-1 error.
# As the authors' code runs, y aliases the block output (in-place add and ReLU), so v2 computes what v4 does;
# rla_input='output' reproduces that code (set rla_input='residual' for the paper's y).
_base_ = './rla-resnet50_4xb64_in1k.py'

model = dict(backbone=dict(rla_input='output', rla_integration='after_recurrence'))
