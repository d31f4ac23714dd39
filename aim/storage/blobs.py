"""Content-addressed blobs beside a run's log: the bytes of images, audio, texts, histograms.

A blob is ``runs/<hash>/blobs/<sha256>`` (stored as given: PNG, JPEG, WAV) or
``<sha256>.zst`` (zstd-compressed: text, histograms, figures), where the SHA-256 is of the bytes
as tracked, so the same bytes tracked twice in a run are stored once. The flush thread writes a
blob to a temporary name, renames it, and fsyncs it (with its directory) before any frame that
refers to it is written (``sync_pending``, called before every frame): the event is the commit point,
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


_local = threading.local()
MAX_STAGED_BYTES = 64 << 20  # bytes staged for the flush thread to write; more: written at once


def _compress(data: bytes) -> bytes:
    # One compressor per thread: making one costs more than compressing a short text.
    zc = getattr(_local, "zc", None)
    if zc is None:
        import zstandard

        zc = _local.zc = zstandard.ZstdCompressor(level=3, write_content_size=True)
    return zc.compress(data)


class RunBlobs:
    """The blob directory of one run, for its writer (``put``, ``sync_pending``) and readers
    (``read``).

    A writer stages blobs (``put(..., defer=True)``): the flush thread writes them, and fsyncs
    them with the directory, in ``sync_pending``, which it calls before every frame. A blob is
    staged before the event naming it is recorded, so the frame holding the event comes after
    the blob on disk, and the training thread does no file IO for it. Past ``MAX_STAGED_BYTES``
    of staged bytes a blob is written at once instead (memory stays bounded).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._pending: list[Path] = []  # written, not yet fsynced
        self._staged: list[tuple[Path, bytes]] = []  # not yet written
        self._staged_bytes = 0
        self._sizes: dict[str, int] = {}  # name -> stored size of every blob written or staged

    def put(self, data: bytes, compress: bool, *, defer: bool = False) -> tuple[str, int]:
        """Store ``data`` (compressed with zstd when ``compress``); return its SHA-256 and the
        stored size. Durable only after ``sync_pending``; with ``defer``, written there too."""
        sha = hashlib.sha256(data).hexdigest()
        name = blob_name(sha, compress)
        target = self.path / name
        with self._lock:
            size = self._sizes.get(name)
        if size is not None:
            return sha, size
        if target.exists():  # a resumed run's blob, or another writer's
            size = target.stat().st_size
            with self._lock:
                self._sizes[name] = size
            return sha, size
        stored = _compress(data) if compress else data
        with self._lock:
            self._sizes[name] = len(stored)
            if defer and self._staged_bytes + len(stored) <= MAX_STAGED_BYTES:
                self._staged.append((target, stored))
                self._staged_bytes += len(stored)
                return sha, len(stored)
        self._write(target, stored)
        return sha, len(stored)

    def _write(self, target: Path, stored: bytes) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(stored)
        os.replace(tmp, target)
        with self._lock:
            self._pending.append(target)

    def sync_pending(self) -> int:
        """Write every staged blob, then fsync every blob written since the last call, then
        the directory; return how many were fsynced."""
        with self._lock:
            staged, self._staged, self._staged_bytes = self._staged, [], 0
        for i, (target, stored) in enumerate(staged):
            try:
                self._write(target, stored)
            except OSError:
                # A full disk: the frame is not written either (the writer retries it), and
                # these blobs wait for the retry, in front of any staged since.
                with self._lock:
                    self._staged[:0] = staged[i:]
                    self._staged_bytes += sum(len(b) for _, b in staged[i:])
                raise
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
