# The demo detector (fcos_rla-r18-tiny_fpn_gn-head_shapes.py) with a Refine-or-Represent ResNet-18 (RoRResNet,
# the paper's represent ratio 0.05 and Refine drop rate 0.2) at the same tiny width, for tools/run_compare_demo.sh.
_base_ = './fcos_rla-r18-tiny_fpn_gn-head_shapes.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='RoRResNet',
        depth=18,
        represent_ratio=0.05,
        refine_drop_rate=0.2,
        seed=0,
        base_channels={{_base_.base_channels}},
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None,
    )
)
