"""Aim's import path for the Keras integration: ``from aim.keras import AimCallback`` (and Aim's
older name for it, ``AimTracker``).

Importing it imports ``keras`` (set ``KERAS_BACKEND`` before, as for ``import keras``)."""

from aim.frameworks.keras import AimCallback, AimTracker

__all__ = ["AimCallback", "AimTracker"]
