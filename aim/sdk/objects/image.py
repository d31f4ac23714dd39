"""``aim.Image``: an image encoded once, at the call, as PNG or JPEG bytes.

Accepted as Aim 3.29 accepts them: a PIL image, a numpy array (HW, HWC; CHW as well when the
last axis cannot be channels), a torch tensor (HW or CHW, as Aim reads tensors), a matplotlib
figure (rendered to PNG) or a file path. Floats are taken as [0, 1] and become ``int(x * 255)``
(Aim's ``tensor.mul(255).byte()``); uint8 is kept; other integer types go to PIL as they are.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from itertools import chain, repeat
from typing import Any

from aim.sdk.objects._util import (
    check_size,
    is_instance_of,
    is_numpy_array,
    is_torch_tensor,
    torch_to_numpy,
    type_name,
)
from aim.sdk.objects.base import AimObject

_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg"}
_CHANNELS = (1, 3, 4)


def _normalize_format(format: str | None) -> str | None:
    if format is None or format == "":
        return None
    if not isinstance(format, str) or format.lower() not in _FORMATS:
        raise ValueError(f"image format must be 'png' or 'jpeg' (or 'jpg'), not {format!r}")
    return _FORMATS[format.lower()]


def _array_to_pil(array: Any, channels_first: bool) -> Any:
    """A PIL image from a 2-D (HW) or 3-D (HWC, or CHW) numpy array."""
    import numpy as np
    from PIL import Image as PILImage

    shape = tuple(array.shape)
    if array.ndim == 3:
        if channels_first or (shape[2] not in _CHANNELS and shape[0] in _CHANNELS):
            if shape[0] not in _CHANNELS:
                raise ValueError(f"a CHW image must have 1, 3 or 4 channels first; got shape {shape}")
            array = np.transpose(array, (1, 2, 0))
        elif shape[2] not in _CHANNELS:
            raise ValueError(f"array of shape {shape} is not an image: "
                             f"neither HWC nor CHW with 1, 3 or 4 channels")
        if array.shape[2] == 1:
            array = array[:, :, 0]
    elif array.ndim != 2:
        raise ValueError(f"an image array must be 2-D (HW) or 3-D (HWC/CHW); got shape {shape}")
    if 0 in array.shape:
        raise ValueError(f"an image array must not be empty; got shape {shape}")
    kind = array.dtype.kind
    if kind == "b":
        array = array.astype(np.uint8) * 255
    elif kind == "f":
        if not np.isfinite(array).all():
            raise ValueError("a float image array must not contain NaN or infinity")
        if array.min() < 0 or array.max() > 1:
            raise ValueError(f"a float image array must be in [0, 1]; got [{array.min()}, {array.max()}]")
        array = (array.astype(np.float64) * 255).astype(np.uint8)
    elif kind not in "iu":
        raise TypeError(f"an image array must be of uint8, floats in [0, 1] or bool; got dtype {array.dtype}")
    try:
        return PILImage.fromarray(np.ascontiguousarray(array))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"PIL cannot make an image of a {shape} {array.dtype} array ({exc}): "
                        f"use uint8, or floats in [0, 1]") from None


def _open_pil(data: bytes, what: str) -> Any:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        img = PILImage.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{what} is not an image PIL can read: {exc}") from None
    return img


def _to_pil(image: Any) -> Any:
    """The PIL image for any accepted input."""
    if isinstance(image, (str, os.PathLike)):
        if not os.path.isfile(image):
            raise ValueError(f"no image file at {os.fspath(image)!r}")
        with open(image, "rb") as f:  # read whole: PIL keeps a path's file open for multi-frame images
            return _open_pil(f.read(), f"file {os.fspath(image)!r}")
    if is_instance_of(image, "PIL.Image", "Image"):
        return image
    if is_numpy_array(image):
        return _array_to_pil(image, channels_first=False)
    if is_torch_tensor(image):
        tensor = image.detach()
        if tensor.ndim not in (2, 3):
            raise ValueError(f"an image tensor must be 2-D (HW) or 3-D (CHW); got shape {tuple(tensor.shape)}")
        if tensor.is_floating_point():
            tensor = tensor.float()  # bfloat16/float16 have no numpy twin to scale
        return _array_to_pil(torch_to_numpy(tensor), channels_first=tensor.ndim == 3)
    if is_instance_of(image, "matplotlib.figure", "Figure"):
        buf = io.BytesIO()
        image.savefig(buf, format="png")
        return _open_pil(buf.getvalue(), "the rendered matplotlib figure")
    raise TypeError(f"cannot make an aim.Image of a {type_name(image)}: pass a PIL image, a numpy array, "
                    f"a torch tensor, a matplotlib figure or a file path")


def _encode(pil: Any, fmt: str, quality: int, optimize: bool) -> bytes:
    from PIL import Image as PILImage

    params: dict[str, Any] = {"format": fmt, "quality": quality, "optimize": optimize}
    if fmt == "jpeg":
        if pil.mode in ("RGBA", "LA", "PA", "P"):  # JPEG has no alpha: flatten onto white, as Aim does
            rgba = pil.convert("RGBA")
            background = PILImage.new("RGBA", pil.size, (255, 255, 255, 255))
            background.paste(rgba, mask=rgba.split()[-1])
            pil = background.convert("RGB")
        elif pil.mode == "1":
            pil = pil.convert("L")
    elif getattr(pil, "n_frames", 1) > 1:  # animated: keep every frame (APNG)
        from PIL import ImageSequence

        frames = ImageSequence.all_frames(pil)
        pil, params = frames[0], {**params, "save_all": True, "append_images": frames[1:]}
    buf = io.BytesIO()
    try:
        pil.save(buf, **params)
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"cannot save a mode {pil.mode!r} image as {fmt}: {exc}") from None
    return buf.getvalue()


class Image(AimObject):
    """An image, stored as PNG or JPEG bytes (Aim's ``aim.Image``).

    Args:
        image: a PIL image, numpy array, torch tensor, matplotlib figure or file path.
        caption: the image's caption, ``''`` by default.
        format: ``'png'`` or ``'jpeg'`` (``'jpg'``), any case; by default the source's own
            format when it is JPEG (a PIL image or a file), PNG otherwise.
        quality, optimize: passed to PIL's ``save`` (quality matters for JPEG only).
    """

    kind = "image"
    compress = False
    DEFAULT_IMG_FORMAT = "png"

    def __init__(self, image: Any, caption: str = "", format: str | None = None, quality: int = 90,
                 optimize: bool = False) -> None:
        if not isinstance(caption, str):
            raise TypeError(f"caption must be a str, not {type_name(caption)}")
        fmt = _normalize_format(format)
        pil = _to_pil(image)
        if fmt is None:
            fmt = "jpeg" if getattr(pil, "format", None) == "JPEG" else self.DEFAULT_IMG_FORMAT
        data = _encode(pil, fmt, quality, optimize)
        check_size("the image", data)
        stored = _open_pil(data, "the encoded image")
        self._data: bytes = data
        self._caption: str = caption
        self._format: str = fmt
        self._width: int = stored.size[0]
        self._height: int = stored.size[1]
        self._mode: str = stored.mode

    @property
    def caption(self) -> str:
        """The image's caption."""
        return self._caption

    @caption.setter
    def caption(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"caption must be a str, not {type_name(value)}")
        self._caption = value

    @property
    def format(self) -> str:
        """The stored format: ``'png'`` or ``'jpeg'``."""
        return self._format

    @property
    def width(self) -> int:
        """Width in pixels."""
        return self._width

    @property
    def height(self) -> int:
        """Height in pixels."""
        return self._height

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self._width, self._height

    @property
    def mode(self) -> str:
        """PIL's mode of the stored image (``'RGB'``, ``'L'``...)."""
        return self._mode

    def to_pil_image(self) -> Any:
        """The stored image as a PIL image."""
        return _open_pil(self._data, "the stored image")

    def json(self) -> dict[str, Any]:
        """Aim's metadata dict: caption, format, width and height."""
        return {"caption": self._caption, "format": self._format, "width": self._width, "height": self._height}

    def _to_stored(self) -> tuple[bytes, dict[str, Any]]:
        return self._data, {**self.json(), "mode": self._mode}

    @classmethod
    def _from_stored(cls, data: bytes, meta: dict[str, Any]) -> Image:
        obj = cls.__new__(cls)
        obj._data = bytes(data)
        obj._caption = str(meta.get("caption", ""))
        if not all(k in meta for k in ("format", "width", "height", "mode")):
            # A reader takes what the bytes say when an event (one written by another tool)
            # leaves a field out: the PNG or JPEG itself is the truth.
            import io

            from PIL import Image as PILImage

            with PILImage.open(io.BytesIO(data)) as pil:
                meta = {"format": (pil.format or "png").lower(), "width": pil.width, "height": pil.height,
                        "mode": pil.mode, **meta}
        obj._format = str(meta["format"])
        obj._width, obj._height = int(meta["width"]), int(meta["height"])
        obj._mode = str(meta["mode"])
        return obj

    def __repr__(self) -> str:
        return f"Image({self._width}x{self._height} {self._mode} {self._format}, caption={self._caption!r})"


def convert_to_aim_image_list(images: Iterable[Any], labels: Iterable[Any] | None = None) -> list[Image]:
    """An ``Image`` per item of ``images``, captioned by ``labels`` (``''`` past their end).

    A label that is not a str is a scalar (a tensor or numpy item): its ``.item()`` is the caption.
    """
    labels_it = chain(labels, repeat("")) if labels is not None else repeat("")
    result = []
    for img, label in zip(images, labels_it):
        caption = label if isinstance(label, str) else str(label.item() if hasattr(label, "item") else label)
        result.append(Image(img, caption))
    return result
