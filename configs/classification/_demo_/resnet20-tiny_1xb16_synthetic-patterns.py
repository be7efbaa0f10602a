# The classification demo (rla-resnet20-tiny_1xb16_synthetic-patterns.py) with plain ResNet-20 (He et al.'s
# CIFAR net) at the same half width (8/16/32 channels): the baseline of the block probes of
# tools/run_probe_demo.sh. RoRResNet with RoR switched off is exactly mmdet's ResNet blocks with the CIFAR stem.
_base_ = './rla-resnet20-tiny_1xb16_synthetic-patterns.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='RoRResNet',
        norm_eval=False,  # trains its norms (mmpretrain's convention; mmdet's default is True)
        depth=20,
        stem_type='cifar',
        cifar_arch='he',
        base_channels=8,
        represent_ratio=0,
        refine_drop_rate=0,
        out_indices=(2,),
    ),
    head=dict(in_channels=32),
)
