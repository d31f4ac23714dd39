"""Content-addressed blobs beside a run's log: the bytes of images, audio, texts, histograms.

A blob is ``runs/<hash>/blobs/<sha256>`` (stored as given: PNG, JPEG, WAV) or
``<sha256>.zst`` (zstd-compressed: text, histograms, figures), where the SHA-256 is of the bytes
as tracked, so the same bytes tracked twice in a run are stored once. A blob is written to a
temporary name and renamed, and fsynced (with its directory) before any frame that refers to
it is written (``sync_pending``, called by the flush thread): the event is the commit point,
so a crash leaves at most unreferenced blobs (``verify --repair`` sweeps them), never an event
pointing at a missing one.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path

from aim.errors import AimError

BLOBS_DIR = "blobs"
BLOB_RE = re.compile(r"^([0-9a-f]{64})(\.zst)?\Z")
ZSTD_SUFFIX = ".zst"


class BlobError(AimError):
    """A blob is missing, or its bytes do not match its SHA-256."""


def blob_name(sha256: str, compressed: bool) -> str:
    """The file name of a blob."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256[:80]!r}")
    return sha256 + (ZSTD_SUFFIX if compressed else "")


def parse_blob_name(name: str) -> tuple[str, bool] | None:
    """(sha256, compressed) of a blob file name, or None when the name is not a blob's."""
    m = BLOB_RE.match(name)
    return (m.group(1), bool(m.group(2))) if m else None


def _compressor() -> object:
    import zstandard

    return zstandard.ZstdCompressor(level=3, write_content_size=True)


class RunBlobs:
    """The blob directory of one run, for its writer (``put``, ``sync_pending``) and readers
    (``read``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._pending: list[Path] = []
        self._known: set[str] = set()

    def put(self, data: bytes, compress: bool) -> tuple[str, int]:
        """Store ``data`` (compressed with zstd when ``compress``); return its SHA-256 and the
        stored size. Durable only after ``sync_pending``."""
        sha = hashlib.sha256(data).hexdigest()
        name = blob_name(sha, compress)
        target = self.path / name
        with self._lock:
            if name in self._known or target.exists():
                self._known.add(name)
                return sha, target.stat().st_size
        stored = _compressor().compress(data) if compress else data  # type: ignore[attr-defined]
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(stored)
        os.replace(tmp, target)
        with self._lock:
            self._known.add(name)
            self._pending.append(target)
        return sha, len(stored)

    def sync_pending(self) -> int:
        """fsync every blob written since the last call, then the directory; return how many."""
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return 0
        for path in pending:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return len(pending)

    def read(self, sha256: str, compressed: bool) -> bytes:
        """A blob's bytes as tracked, verified against its SHA-256; ``BlobError`` otherwise."""
        path = self.path / blob_name(sha256, compressed)
        try:
            stored = path.read_bytes()
        except FileNotFoundError:
            raise BlobError(f"blob {path} is missing") from None
        data = read_stored(stored, compressed, str(path))
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobError(f"blob {path} does not match its SHA-256")
        return data


def read_stored(stored: bytes, compressed: bool, what: str) -> bytes:
    """A blob file's bytes as tracked (decompressed when stored compressed)."""
    if not compressed:
        return stored
    import zstandard

    try:
        return zstandard.ZstdDecompressor().decompress(stored)
    except zstandard.ZstdError as exc:
        raise BlobError(f"blob {what} does not decompress: {exc}") from None


def check_blob_file(path: Path) -> str | None:
    """What is wrong with a blob file (its name says its SHA-256), or None when it is sound."""
    parsed = parse_blob_name(path.name)
    if parsed is None:
        return f"{path.name} is not a blob name"
    sha, compressed = parsed
    try:
        data = read_stored(path.read_bytes(), compressed, str(path))
    except (OSError, BlobError) as exc:
        return str(exc)
    if hashlib.sha256(data).hexdigest() != sha:
        return f"blob {path} does not match its SHA-256"
    return None
