"""Aim's import path for the XGBoost integration: ``from aim.xgboost import AimCallback``."""

from aim.frameworks.xgboost import AimCallback

__all__ = ["AimCallback"]
