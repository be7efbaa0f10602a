# The classification demo (rla-resnet20-tiny_1xb16_synthetic-patterns.py) with RegNet-20 (RNNRegNet, ConvLSTM
# regulators) at the same half width (8/16/32 channels): same data, recipe and seed. For the block probes of
# tools/run_probe_demo.sh (RegNet's Fig. 1(b)).
_base_ = './rla-resnet20-tiny_1xb16_synthetic-patterns.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='RNNRegNet',
        norm_eval=False,  # trains its norms (mmpretrain's convention; mmdet's default is True)
        depth=20,
        stem_type='cifar',
        base_channels=8,
        regulator='lstm',
        out_indices=(2,),
    ),
    head=dict(in_channels=32),
)
