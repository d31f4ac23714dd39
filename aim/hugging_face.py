"""Aim's import path for the Hugging Face Transformers integration (see aim/frameworks/transformers.py)."""

from aim.frameworks.transformers import AimCallback

__all__ = ["AimCallback"]
