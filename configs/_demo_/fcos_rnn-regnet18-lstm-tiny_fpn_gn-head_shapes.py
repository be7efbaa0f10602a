# The demo detector (fcos_rla-r18-tiny_fpn_gn-head_shapes.py) with an RNN-regulated ResNet-18 (RNNRegNet,
# ConvLSTM regulators, the paper's defaults) at the same tiny width, for tools/run_compare_demo.sh.
_base_ = './fcos_rla-r18-tiny_fpn_gn-head_shapes.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='RNNRegNet',
        depth=18,
        regulator='lstm',
        base_channels={{_base_.base_channels}},
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None,
    )
)
