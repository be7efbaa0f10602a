# Table 6 (g) of the RLA-Net paper, RLA-v3: the block output x is added before the recurrent unit, h = R(h + Conv1x1(x))
# (Figure 4; the authors' resnet_rla_v3.py; 25,870,696 parameters). Paper: 22.95% top-1 error.
# As the authors' code runs, the proposed module's y aliases the block output, so this is the function of
# rla-resnet50_4xb64_in1k.py; the paper's two rows are two trainings of it.
_base_ = './rla-resnet50_4xb64_in1k.py'

model = dict(backbone=dict(rla_input='output', rla_integration='before_recurrence'))
