"""The one narrow interface upload and download need from object storage (litestream's
replica-client shape): list, head (the SHA-256 an object holds), put-if-absent, get.

``S3Store`` (``remote/s3.py``) and ``LocalStore`` (``remote/local.py``: a directory, e.g. on a
shared filesystem) implement it; ``tests/remote/test_store_contract.py`` runs one contract
against both. Every key is immutable once written: a put never replaces an object, and says
whether the bytes were written (True), were there already (False), or conflict
(``RemoteConflictError``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol

from aim.errors import RemoteConflictError


class ObjectStore(Protocol):
    """What ``sdk/backup.py`` and ``sdk/restore.py`` use of a bucket."""

    bucket: str

    @property
    def where(self) -> str:
        """The store, for messages (``s3://bucket``, ``file:///path``)."""
        ...

    def bucket_exists(self) -> bool:
        """True when the bucket (or folder) exists."""
        ...

    def ensure_bucket(self) -> bool:
        """Create the bucket when missing; True when it was created."""
        ...

    def list_objects(self, prefix: str) -> Iterator[tuple[str, int]]:
        """``(key, size)`` of every object under ``prefix``."""
        ...

    def put_immutable(self, key: str, data: bytes, sha256: str) -> bool:
        """Write ``data`` at ``key`` unless an object is there (see the module docstring)."""
        ...

    def remote_sha256(self, key: str) -> str | None:
        """The SHA-256 of the object at ``key``, None when there is none."""
        ...

    def get_bytes(self, key: str) -> tuple[bytes, str | None]:
        """An object's bytes and the SHA-256 recorded with it (if any)."""
        ...

    def download_to(self, key: str, out: BinaryIO) -> tuple[str, str | None]:
        """Stream an object into ``out``: (SHA-256 of what was written, the recorded one)."""
        ...


def conflict(key: str, where: str, there: str | None, ours: str) -> RemoteConflictError:
    """The error of a put that found other bytes at its key (the one wording of every store)."""
    return RemoteConflictError(
        f"{key} already exists in {where} with different bytes "
        f"(sha256 {(there or 'unknown')[:16]}..., ours {ours[:16]}...): nothing was overwritten")
