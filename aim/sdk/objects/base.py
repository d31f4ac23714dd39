"""What every tracked object (Image, Text, Distribution, Audio, Figure) is to the writer.

An object is converted when it is made (``Image(array)`` encodes the PNG then), so a bad
object raises at the call and the writer only moves bytes: ``_to_stored`` gives the blob's
bytes, whether zstd shrinks them (text, histograms, figures: yes; PNG, JPEG, WAV: no), and
the small, JSON-plain metadata that goes into the event (format, caption, sizes...). A read
gives the same bytes and metadata back to ``_from_stored``.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

_T = TypeVar("_T", bound="AimObject")

MAX_BLOB_BYTES = 1 << 30  # 1 GiB: a single object beyond this is refused at the call


class AimObject:
    """The base of Aim's tracked objects (``aim.Image``...)."""

    kind: ClassVar[str] = ""  # "image", "text", "distribution", "audio", "figure"
    compress: ClassVar[bool] = False  # whether the blob is stored zstd-compressed

    def _to_stored(self) -> tuple[bytes, dict[str, Any]]:
        """The blob's bytes and the event's metadata (JSON-plain, small)."""
        raise NotImplementedError

    @classmethod
    def _from_stored(cls: type[_T], data: bytes, meta: dict[str, Any]) -> _T:
        """The object again, from what ``_to_stored`` gave."""
        raise NotImplementedError

    def json(self) -> dict[str, Any]:
        """Aim's ``obj.json()``: the object's metadata as a dict."""
        return dict(self._to_stored()[1])

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._to_stored() == self._to_stored()

    def __hash__(self) -> int:
        return hash((self.kind, self._to_stored()[0]))
