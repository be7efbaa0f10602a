# Table 6 (c) of the RLA-Net paper: no information flow from the RLA path to the main CNN, whose blocks read x
# only; h still aggregates the blocks and feeds the classifier (the authors' resnet_rla_rh.py; 25,749,864
# parameters). Paper: 23.42% top-1 error.
_base_ = './rla-resnet50_4xb64_in1k.py'

model = dict(backbone=dict(rla_exchange=False))
