"""Aim's import path for the TensorFlow integration: ``from aim.tensorflow import AimCallback``
(and ``AimTracker``). It is the Keras callback of ``aim.keras``: Keras 3 runs it on the
TensorFlow backend (``KERAS_BACKEND=tensorflow``) as on the others, and ``tf.keras`` of
TensorFlow 2 works when ``keras`` resolves to it. Importing it imports ``keras``."""

from aim.frameworks.keras import AimCallback, AimTracker

__all__ = ["AimCallback", "AimTracker"]
