# The demo detector (fcos_rla-r18-tiny_fpn_gn-head_shapes.py) with mmdet's plain ResNet-18 at the same tiny
# width (16 base channels): the baseline of tools/run_compare_demo.sh. Everything but the backbone is inherited.
_base_ = './fcos_rla-r18-tiny_fpn_gn-head_shapes.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=18,
        base_channels={{_base_.base_channels}},
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None,
    )
)
