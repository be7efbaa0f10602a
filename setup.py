"""mmdet_rla: memory-along-depth ResNet backbones (RLA-Net, RNN-regulated RegNet, RoR) for MMDetection 3.x."""
from setuptools import find_packages, setup


def read_version() -> str:
    namespace: dict = {}
    with open('mmdet_rla/version.py', encoding='utf-8') as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='mmdet_rla',
    version=read_version(),
    description='RLA-ResNet, RNN-regulated ResNet (RegNet) and Refine-or-Represent backbones for MMDetection 3.x',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmdet_rla', 'mmdet_rla.*']),
    # The fused kernels' sources, compiled on first use (mmdet_rla/ops).
    package_data={'mmdet_rla.ops': ['csrc/*.cpp']},
    python_requires='>=3.9',
    install_requires=[
        'torch>=2.0',
        'mmengine>=0.10.0',
        'mmcv>=2.0.0rc4,<2.2.0',
        'mmdet>=3.3.0,<3.4',
    ],
    extras_require={
        'cls': ['mmpretrain>=1.2.0'],
        'tests': ['pytest', 'pycocotools', 'matplotlib'],
    },
    license='Apache-2.0',
    zip_safe=False,
)
