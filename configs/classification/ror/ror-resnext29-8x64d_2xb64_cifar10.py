# RoR-ResNeXt-29 (8x64d) on CIFAR-10, the RoR CIFAR recipe (see ror-resnet56_2xb64_cifar10.py).
# Paper test error: 3.72% (Residual: 3.65%, SDepth: 3.85%).
_base_ = './ror-resnet56_2xb64_cifar10.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='RoRResNeXt',
        depth=29,
        stem_type='cifar',
        groups=8,
        base_width=64,
        norm_eval=False,  # trains its norms (mmpretrain's convention; mmdet's default is True)
        represent_ratio=0.05,
        refine_drop_rate=0.2,
        seed=0,
        out_indices=(2,),
    ),
    head=dict(in_channels=1024),
)
