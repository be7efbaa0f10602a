# Table 6 (i) of the RLA-Net paper, RLA-v5: the block input x^{t-1} (on the shortcut, after its projection
# if any) is added before the recurrent unit, h = R(h + Conv1x1(x^{t-1}))
# (Figure 4; the authors' resnet_rla_v5.py; 25,870,696 parameters). Paper: 23.30% top-1 error.
_base_ = './rla-resnet50_4xb64_in1k.py'

model = dict(backbone=dict(rla_input='identity', rla_integration='before_recurrence'))
