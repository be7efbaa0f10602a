"""Every count of tests/counts.yaml, measured on the model it describes.

counts.yaml is the one place for the parameter and multiply-add counts that the tests assert and the docs quote
(tests/test_docs.py checks the docs against it); its header says what each field counts.
"""

from typing import Any, Dict

import pytest
import torch
from conftest import COUNTS
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.analysis import FlopAnalyzer
from mmengine.registry import DefaultScope
from torch import nn

import mmdet_rla  # noqa: F401  (registers the backbones)
from mmdet_rla.converters import rlanet_resnet

register_all_modules(init_default_scope=False)


@pytest.fixture(autouse=True)
def mmdet_scope():
    """Build in mmdet's scope whatever scope earlier tests left current (under mmpretrain's, ``ResNeXt`` is
    mmpretrain's class, which takes other arguments)."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


COUNT_FIELDS = ('params', 'params_with_fc', 'macs', 'macs_literal', 'macs_with_fc', 'macs_with_fc_literal')
FIELDS = {'backbone', 'arch', 'literal', 'classifier', 'size', 'classes', 'reference', *COUNT_FIELDS}


class PooledClassifier(nn.Module):
    """A backbone, global average pooling of its last output and a linear layer.

    The layers (and so the parameters and multiply-adds) that mmpretrain's ``ImageClassifier`` with
    ``GlobalAveragePooling`` and ``LinearClsHead`` runs in tensor mode; built here without mmpretrain's config
    machinery so that any backbone of the table gets the papers' "with fc" counts.
    """

    def __init__(self, backbone: nn.Module, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.backbone(images)[-1]).flatten(1))


def backbone_config(entry: Dict[str, Any], *overrides: str) -> Dict[str, Any]:
    """The registry config of an entry: the authors' factory (``arch``) updated by ``backbone``, then by the entry's
    ``overrides`` fields (``'literal'``, ``'classifier'``)."""
    config: Dict[str, Any] = {}
    if 'arch' in entry:
        config.update(rlanet_resnet.model_config(entry['arch'], classifier=True)['backbone'])
    for field in ('backbone', *overrides):
        config.update(entry.get(field, {}))
    return {key: tuple(value) if isinstance(value, list) else value for key, value in config.items()}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def multiply_adds(model: nn.Module, size: int) -> int:
    model.eval()
    analyzer = FlopAnalyzer(model, (torch.rand(1, 3, size, size),))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    with torch.no_grad():
        return int(round(analyzer.total()))


def test_the_table_is_well_formed():
    for name, entry in COUNTS.items():
        assert set(entry) <= FIELDS, (name, set(entry) - FIELDS)
        assert ('backbone' in entry or 'arch' in entry) and 'params' in entry, name
        assert all(ref in COUNTS for ref in entry.get('reference', [])), name
        with_fc = {'params_with_fc', 'macs_with_fc', 'macs_with_fc_literal'} & set(entry)
        assert bool(with_fc) == ('classes' in entry or 'arch' in entry), name
        assert ('literal' in entry) == bool({'macs_literal', 'macs_with_fc_literal'} & set(entry)), name
        assert 'classifier' not in entry or with_fc, name
        for field in COUNT_FIELDS:
            assert isinstance(entry.get(field, 0), int), (name, field)


def classifier_of(entry: Dict[str, Any], *overrides: str) -> nn.Module:
    """The entry's classifier: its backbone in classifier form (and ``overrides``), pooling and fc."""
    size = min(entry.get('size', 224), 64)  # the width of the last output does not depend on the size
    backbone = MODELS.build(backbone_config(entry, 'classifier', *overrides))
    backbone.eval()
    with torch.no_grad():
        channels = backbone(torch.rand(1, 3, size, size))[-1].shape[1]
    return PooledClassifier(backbone, channels, entry.get('classes', 1000))


@pytest.mark.parametrize('name', sorted(COUNTS))
def test_counts(name):
    entry = COUNTS[name]
    size = entry.get('size', 224)
    backbone = MODELS.build(backbone_config(entry))
    assert n_params(backbone) == entry['params']
    if 'macs' in entry:
        assert multiply_adds(backbone, size) == entry['macs']
    if 'macs_literal' in entry:
        literal = MODELS.build(backbone_config(entry, 'literal'))
        assert n_params(literal) == entry['params']  # the same parameters, counted another way
        assert multiply_adds(literal, size) == entry['macs_literal']
    if {'params_with_fc', 'macs_with_fc'} & set(entry):
        classifier = classifier_of(entry)
        if 'params_with_fc' in entry:
            assert n_params(classifier) == entry['params_with_fc']
        if 'macs_with_fc' in entry:
            assert multiply_adds(classifier, size) == entry['macs_with_fc']
    if 'macs_with_fc_literal' in entry:
        assert multiply_adds(classifier_of(entry, 'literal'), size) == entry['macs_with_fc_literal']
