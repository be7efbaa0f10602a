# Table 6 (h) of the RLA-Net paper, RLA-v4: the block output x is added after the recurrent unit, h = R(h) + Conv1x1(x)
# (Figure 4; the authors' resnet_rla_v4.py; 25,870,696 parameters). Paper: 23.36% top-1 error.
# As the authors' code runs, this is the function of v2 (rla-resnet50-v2_4xb64_in1k.py): see there.
_base_ = './rla-resnet50_4xb64_in1k.py'

model = dict(backbone=dict(rla_input='output', rla_integration='after_recurrence'))
