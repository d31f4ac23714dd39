"""Run hashes: the only home of the 24-hex rule."""

from __future__ import annotations

import re
import secrets

from aim.errors import InvalidRunHashError

RUN_HASH_RE = re.compile(r"^[0-9a-f]{24}\Z")


def new_run_hash() -> str:
    """A fresh random run hash (96 bits, like Aim's 24 hex characters)."""
    return secrets.token_hex(12)


def is_run_hash(value: object) -> bool:
    """True when ``value`` is a well-formed run hash."""
    return isinstance(value, str) and RUN_HASH_RE.match(value) is not None


def validate_run_hash(value: object) -> str:
    """Return ``value`` if it is a well-formed run hash, else raise ``InvalidRunHashError``.

    Called before a hash from a user, a listing or a remote store ever becomes part of a path.
    """
    if not is_run_hash(value):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise InvalidRunHashError(f"invalid run hash {shown}: expected 24 lowercase hex characters")
    return value  # type: ignore[return-value]
