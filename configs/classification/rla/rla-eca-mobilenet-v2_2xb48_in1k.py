# RLA-ECA-MobileNetV2 on ImageNet-1k: ECA on every block's output branch (1-D kernel size 1 in the 16..64-channel
# layers, 3 in the 96..320-channel ones, the authors' choice), whose output then feeds RLA; the authors' released
# dsrla_mobilenetv2_k32_eca and the recipe of rla-mobilenet-v2_2xb48_in1k.py. Paper top-1 / top-5 error:
# 27.07% / 8.89% (ECA-MobileNetV2: 27.44% / 9.19%).
_base_ = './rla-mobilenet-v2_2xb48_in1k.py'

model = dict(backbone=dict(channel_attention='eca', eca_kernel_sizes=(1, 1, 1, 1, 3, 3, 3)))
