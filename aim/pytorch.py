"""Aim's import path for its PyTorch helpers: ``from aim.pytorch import track_params_dists,
track_gradients_dists`` (weights and gradients as ``Distribution`` sequences). Importing it
does not import torch; the model passed in brings it."""

from aim.frameworks.pytorch import get_model_layers, track_gradients_dists, track_params_dists

__all__ = ["get_model_layers", "track_gradients_dists", "track_params_dists"]
