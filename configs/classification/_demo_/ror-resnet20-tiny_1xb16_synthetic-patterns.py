# The classification demo (rla-resnet20-tiny_1xb16_synthetic-patterns.py) with RoR-ResNet-20 (Refine or Represent,
# He et al.'s CIFAR layout) at the same half width (8/16/32 channels): same data, recipe and seed. For the block
# probes of tools/run_probe_demo.sh.
_base_ = './resnet20-tiny_1xb16_synthetic-patterns.py'

model = dict(backbone=dict(represent_ratio=0.05, refine_drop_rate=0.2, seed=0))
