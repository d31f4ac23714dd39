"""``aim.Audio``: audio bytes (mp3, wav or flac) stored as they are; numpy arrays become WAV.

A numpy array is encoded with the standard library's ``wave`` (PCM): floats in [-1, 1] as 16-bit,
int16 and int32 as they are, uint8 as 8-bit. Aim's own writer stored floats as 32-bit float WAV,
which ``wave`` cannot write; 16-bit PCM plays everywhere.
"""

from __future__ import annotations

import io
import os
import wave
from typing import Any

from aim.sdk.objects._util import check_size, is_numpy_array, type_name
from aim.sdk.objects.base import AimObject

DEFAULT_RATE = 22500  # Aim's default for arrays (sic: not 22050), kept so tracked audio plays alike
_MAX_CHANNELS = 32
_SAMPLE_WIDTHS = {"int16": 2, "int32": 4, "uint8": 1}


def _check_rate(rate: Any) -> int | None:
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, int) or not 0 < rate < 1 << 32:
        raise ValueError(f"rate must be a positive int (samples per second), not {rate!r}")
    return rate


def _wav_from_array(array: Any, rate: int) -> bytes:
    """A PCM WAV file of a 1-D (mono) or (frames, channels) array."""
    import numpy as np

    if array.ndim not in (1, 2) or (array.ndim == 2 and not 1 <= array.shape[1] <= _MAX_CHANNELS):
        raise ValueError(f"an audio array must be 1-D (mono) or (frames, channels) with at most "
                         f"{_MAX_CHANNELS} channels; got shape {array.shape} (channels-first? transpose it)")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise ValueError("a float audio array must not contain NaN or infinity")
        if array.size and (array.min() < -1 or array.max() > 1):
            raise ValueError(f"a float audio array must be in [-1, 1]; got [{array.min()}, {array.max()}]")
        array = np.round(array.astype(np.float64) * 32767).astype(np.int16)
    if array.dtype.name not in _SAMPLE_WIDTHS:
        raise TypeError(f"an audio array must be floats in [-1, 1], int16, int32 or uint8; "
                        f"got dtype {array.dtype}")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1 if array.ndim == 1 else array.shape[1])
        w.setsampwidth(_SAMPLE_WIDTHS[array.dtype.name])
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes())
    return buf.getvalue()


def _wav_rate(data: bytes) -> int | None:
    """The sample rate in a PCM WAV header, or None where ``wave`` cannot read it (float WAV...)."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            return int(w.getframerate())
    except (wave.Error, EOFError, ValueError):
        return None


def _check_magic(data: bytes, fmt: str) -> None:
    if fmt == "wav" and not (data[:4] in (b"RIFF", b"RIFX", b"RF64") and data[8:12] == b"WAVE"):
        raise ValueError("the data is not a WAV file (no RIFF/WAVE header)")
    if fmt == "flac" and data[:4] != b"fLaC":
        raise ValueError("the data is not a FLAC file (no fLaC header)")


class Audio(AimObject):
    """A piece of audio (Aim's ``aim.Audio``).

    Args:
        data: a file path, bytes, a binary file object (``io.BytesIO``...) or a numpy array.
        format: ``'mp3'``, ``'wav'`` or ``'flac'``; required for bytes, taken from a path's
            extension when not given, always ``'wav'`` for an array.
        caption: the audio's caption, ``''`` by default.
        rate: samples per second; for an array 22500 when not given (Aim's default), for WAV
            bytes the header's rate.
    """

    kind = "audio"
    compress = False

    UNKNOWN = ""
    MP3 = "mp3"
    WAV = "wav"
    FLAC = "flac"
    audio_formats = (MP3, WAV, FLAC)

    def __init__(self, data: Any, format: str = "", caption: str = "", rate: int | None = None) -> None:
        if not isinstance(caption, str):
            raise TypeError(f"caption must be a str, not {type_name(caption)}")
        if not isinstance(format, str):
            raise TypeError(f"format must be a str, not {type_name(format)}")
        fmt = format.lower()
        rate = _check_rate(rate)
        if is_numpy_array(data):
            if fmt not in ("", self.WAV):
                raise ValueError(f"an array is stored as wav, not {format!r}")
            fmt, rate = self.WAV, rate or DEFAULT_RATE
            data = _wav_from_array(data, rate)
        elif isinstance(data, (str, os.PathLike)):
            path = os.fspath(data)
            if not os.path.isfile(path):
                raise ValueError(f"no audio file at {path!r}")
            fmt = fmt or os.path.splitext(path)[1].lstrip(".").lower()
            if fmt not in self.audio_formats:  # checked before reading the file
                raise ValueError(f"audio format must be one of {self.audio_formats}; got {fmt!r} for {path!r}")
            with open(path, "rb") as f:
                data = f.read()
        elif isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        elif not isinstance(data, bytes) and callable(getattr(data, "read", None)):
            data = data.read()
        if not isinstance(data, bytes):
            raise TypeError(f"cannot make an aim.Audio of a {type_name(data)}: pass bytes, a binary file, "
                            f"a path or a numpy array")
        if not fmt:
            raise ValueError(f"the audio format is required with bytes: one of {self.audio_formats}")
        if fmt not in self.audio_formats:
            raise ValueError(f"audio format must be one of {self.audio_formats}; got {format!r}")
        if not data:
            raise ValueError("the audio data is empty")
        _check_magic(data, fmt)
        check_size("the audio", data)
        if fmt == self.WAV:
            rate = _wav_rate(data) or rate
        self._data = data
        self._format = fmt
        self._caption = caption
        self._rate = rate

    @property
    def caption(self) -> str:
        """The audio's caption."""
        return self._caption

    @property
    def format(self) -> str:
        """``'mp3'``, ``'wav'`` or ``'flac'``."""
        return self._format

    @property
    def rate(self) -> int | None:
        """Samples per second, where known."""
        return self._rate

    def get(self) -> io.BytesIO:
        """The audio file's bytes in a fresh buffer (Aim's ``get``)."""
        return io.BytesIO(self._data)

    def to_bytes(self) -> bytes:
        """The audio file's bytes."""
        return self._data

    def to_numpy(self) -> tuple[int, Any]:
        """``(rate, samples)`` of a PCM WAV: samples 1-D for mono, else (frames, channels)."""
        import numpy as np

        if self._format != self.WAV:
            raise ValueError(f"to_numpy reads WAV only; this audio is {self._format}")
        try:
            with wave.open(self.get(), "rb") as w:
                channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
                frames = w.readframes(w.getnframes())
        except (wave.Error, EOFError) as exc:
            raise ValueError(f"the WAV data cannot be read as PCM: {exc}") from None
        if width == 3:  # 24-bit: into the top of an int32, shifted back to sign-extend
            raw = np.frombuffer(frames, dtype=np.uint8).reshape(-1, 3)
            samples = (raw[:, 0].astype(np.int32) << 8 | raw[:, 1].astype(np.int32) << 16
                       | raw[:, 2].astype(np.int32) << 24) >> 8
        else:
            samples = np.frombuffer(frames, dtype={1: "u1", 2: "<i2", 4: "<i4"}[width]).astype(
                {1: np.uint8, 2: np.int16, 4: np.int32}[width])
        return rate, samples if channels == 1 else samples.reshape(-1, channels)

    def json(self) -> dict[str, Any]:
        """Aim's metadata dict: caption and format."""
        return {"caption": self._caption, "format": self._format}

    def _to_stored(self) -> tuple[bytes, dict[str, Any]]:
        return self._data, {**self.json(), "rate": self._rate, "size": len(self._data)}

    @classmethod
    def _from_stored(cls, data: bytes, meta: dict[str, Any]) -> Audio:
        obj = cls.__new__(cls)
        obj._data = bytes(data)
        obj._format = str(meta["format"])
        obj._caption = str(meta.get("caption", ""))
        rate = meta.get("rate")
        obj._rate = None if rate is None else int(rate)
        return obj

    def __repr__(self) -> str:
        return f"Audio({self._format}, {len(self._data)} bytes, rate={self._rate}, caption={self._caption!r})"
