"""``Context``: a metric's context as Aim's client code handles it (``aim.storage.context``).

An immutable mapping that is hashable (so it can key a dict, as Aim's is) and equal to a plain
dict with the same items. Hashing and equality keep ``1``, ``1.0`` and ``True`` apart, as the
log does (contexts are identities stored as JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any


class Context(Mapping[str, Any]):
    """A metric context: ``Context({"subset": "train"})``; ``to_dict()`` gives the dict back."""

    __slots__ = ("_context", "_hash")

    def __init__(self, context: Mapping[str, Any] | None = None) -> None:
        # A deep copy through JSON: what a context can hold is what the log can store.
        self._context: dict[str, Any] = json.loads(json.dumps(dict(context or {})))
        self._hash: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The context as a plain dict (a copy)."""
        return json.loads(json.dumps(self._context))  # type: ignore[no-any-return]

    @property
    def idx(self) -> int:
        """Aim's name for the context's hash."""
        return hash(self)

    def __getitem__(self, key: str) -> Any:
        return self._context[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._context)

    def __len__(self) -> int:
        return len(self._context)

    def _key(self) -> str:
        # Sorted JSON: {"a": 1} and {"a": True} differ, as in the log.
        return json.dumps(self._context, sort_keys=True)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self._key())
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Context):
            return self._key() == other._key()
        if isinstance(other, Mapping):
            try:
                return self._key() == json.dumps(dict(other), sort_keys=True)
            except (TypeError, ValueError):
                return False
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __repr__(self) -> str:
        return f"<Context {self._context}>"
