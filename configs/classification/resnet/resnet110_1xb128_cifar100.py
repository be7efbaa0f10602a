# Plain ResNet-110 (He et al.'s CIFAR net), the baseline of the RLA-Net paper (Table 2),
# with its CIFAR recipe (see ../rla/rla-resnet110_1xb128_cifar10.py: 45k/5k split, Nesterov SGD, 300 epochs).
# Paper test error (re-implemented): 28.51%.
_base_ = '../rla/rla-resnet110_1xb128_cifar100.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='RoRResNet',
        depth=110,
        stem_type='cifar',
        cifar_arch='he',
        norm_eval=False,  # trains its norms (mmpretrain's convention; mmdet's default is True)
        # RoR switched off (no Represent channels, no drop-layer) is exactly mmdet's ResNet.
        represent_ratio=0,
        refine_drop_rate=0,
        out_indices=(2,),
    ),
    head=dict(in_channels=64),
)
