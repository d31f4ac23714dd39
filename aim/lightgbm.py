"""Aim's import path for the LightGBM integration: ``from aim.lightgbm import AimCallback``."""

from aim.frameworks.lightgbm import AimCallback

__all__ = ["AimCallback"]
