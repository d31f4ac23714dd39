"""Aim's import path for the PyTorch Lightning integration (see aim/frameworks/lightning.py)."""

from aim.frameworks.lightning import AimLogger

__all__ = ["AimLogger"]
