"""Aim's import path for the Keras integration: ``from aim.keras import AimCallback``.

Importing it imports ``keras`` (set ``KERAS_BACKEND`` before, as for ``import keras``)."""

from aim.frameworks.keras import AimCallback

__all__ = ["AimCallback"]
