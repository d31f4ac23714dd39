"""``aim.Text``: a string, stored as UTF-8 (zstd-compressed by the writer)."""

from __future__ import annotations

from typing import Any

from aim.sdk.objects._util import check_size, type_name
from aim.sdk.objects.base import AimObject


class Text(AimObject):
    """A piece of text (Aim's ``aim.Text``).

    Args:
        text: the string; anything else is a ``TypeError``.
    """

    kind = "text"
    compress = True

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"aim.Text takes a str, not {type_name(text)}")
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates
            raise ValueError(f"the text cannot be stored as UTF-8: {exc}") from None
        check_size("the text", data)
        self._text = text
        self._data = data

    @property
    def data(self) -> str:
        """The text."""
        return self._text

    def json(self) -> dict[str, Any]:
        """Aim's metadata dict for a text: empty."""
        return {}

    def _to_stored(self) -> tuple[bytes, dict[str, Any]]:
        return self._data, {}

    @classmethod
    def _from_stored(cls, data: bytes, meta: dict[str, Any]) -> Text:
        return cls(bytes(data).decode("utf-8"))

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Text({self._text!r})"
