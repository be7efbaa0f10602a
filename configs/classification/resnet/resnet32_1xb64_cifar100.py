# Plain ResNet-32 (He et al.'s CIFAR net: 3 stages of 16/32/64 channels), the
# baseline of the RegNet paper (Tables III/IV), with its CIFAR recipe
# (see ../rnn_regnet/rnn-regnet20-convlstm_1xb64_cifar10.py).
# Paper test error: 29.86%.
_base_ = '../rnn_regnet/rnn-regnet20-convlstm_1xb64_cifar100.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='RoRResNet',
        depth=32,
        stem_type='cifar',
        cifar_arch='he',
        norm_eval=False,  # trains its norms (mmpretrain's convention; mmdet's default is True)
        # RoR switched off (no Represent channels, no drop-layer) is exactly mmdet's ResNet.
        represent_ratio=0,
        refine_drop_rate=0,
        out_indices=(2,),
    )
)
