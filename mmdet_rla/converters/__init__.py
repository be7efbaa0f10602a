"""Checkpoint converters: weights of other code bases into mmdet_rla layouts."""

from .rlanet import (
    FAMILY_MODULES,
    UnsafeCheckpointError,
    candidate_archs,
    convert_rlanet_checkpoint,
    factory_names,
    load_weights_only,
    mmdet_to_official,
    official_to_mmdet,
)

__all__ = [
    'FAMILY_MODULES',
    'UnsafeCheckpointError',
    'candidate_archs',
    'convert_rlanet_checkpoint',
    'factory_names',
    'load_weights_only',
    'mmdet_to_official',
    'official_to_mmdet',
]
