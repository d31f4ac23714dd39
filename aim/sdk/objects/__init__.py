"""Aim's tracked objects: ``Image``, ``Text``, ``Distribution``, ``Audio``, ``Figure``.

Importing them imports nothing heavy: PIL, numpy, torch, matplotlib and plotly are loaded by
the call that needs them.
"""

from aim.sdk.objects.audio import Audio
from aim.sdk.objects.distribution import Distribution
from aim.sdk.objects.figure import Figure
from aim.sdk.objects.image import Image, convert_to_aim_image_list
from aim.sdk.objects.text import Text

__all__ = ["Audio", "Distribution", "Figure", "Image", "Text", "convert_to_aim_image_list"]
