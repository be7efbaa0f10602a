"""Checkpoint converters: weights of other code bases into mmdet_rla layouts."""
from .rlanet import (UnsafeCheckpointError, convert_rlanet_checkpoint, load_weights_only,
                     mmdet_to_official, official_to_mmdet)

__all__ = ['UnsafeCheckpointError', 'convert_rlanet_checkpoint', 'load_weights_only',
           'mmdet_to_official', 'official_to_mmdet']
