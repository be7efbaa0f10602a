# Slim RoR-ResNeXt-29 (8x32d: every width halved) on CIFAR-10,
# the RoR CIFAR recipe (see ror-resnet56_2xb64_cifar10.py).
# Paper test error: 4.28% (Residual: 4.35%, SDepth: 4.36%).
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
        slim=True,
    ),
    head=dict(in_channels=512),
)
