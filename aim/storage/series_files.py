"""Columnar series files: a run's metric sequences as packed arrays, under ``.aim/index/series/``.

Bytes only (what the columns mean, and how a log becomes them, is ``sdk/series.py``). One
directory per run holds ``manifest.json`` and one ``<id>.col`` file per sequence. A ``.col``
file is a run of chunks; a chunk is a header (magic, points, flags, CRC-32 of the body) and four
packed little-endian columns of ``points`` entries each: steps (int64), values (int64 or
float64, flag bit 0), epochs (int64, -1 for none) and timestamps (float64). numpy reads a column
with ``frombuffer``, without a Python loop per point. A sequence that mixes ints and floats
(flag bit 1) keeps float64 values plus a byte per point saying "an int" and those ints exactly
(int64), so that reading it back gives each point's own type, as the log does.

Everything here is disposable: the manifest records how many bytes of each file are valid, a
file shorter than that, a chunk whose CRC fails or a manifest that does not parse raise
``SeriesCorruptError``, and the caller wipes the directory and rebuilds it from the log.
"""

from __future__ import annotations

import fcntl
import os
import struct
import sys
import zlib
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from aim.errors import AimError

MAGIC = b"AIMC"
_HEADER = struct.Struct("<4sIII")  # magic, points, flags, crc32 of the body
FLAG_INT_VALUES = 1
FLAG_MIXED = 2
NO_EPOCH = -1  # epochs are >= 0 when given
MANIFEST = "manifest.json"
FORMAT = 1
_LITTLE = sys.byteorder == "little"


class SeriesCorruptError(AimError):
    """A series file or manifest cannot be trusted; the caller rebuilds it from the log."""

    hint = "it is rebuilt from the log on the next read (or: aim storage reindex)"


@dataclass
class Columns:
    """One sequence's points as packed arrays, sorted by step with one point per step."""

    steps: array[int] = field(default_factory=lambda: array("q"))
    values: array[Any] = field(default_factory=lambda: array("q"))
    epochs: array[int] = field(default_factory=lambda: array("q"))
    timestamps: array[float] = field(default_factory=lambda: array("d"))
    # Mixed ints and floats: ``values`` is float64, ``is_int`` marks the points that were ints
    # and ``ints`` holds them exactly (0 elsewhere).
    is_int: array[int] | None = None
    ints: array[int] | None = None

    def __len__(self) -> int:
        return len(self.steps)

    def value_list(self) -> list[Any]:
        """The values as Python numbers, each of the type it was tracked as."""
        if self.is_int is None or self.ints is None:
            return self.values.tolist()
        return [i if m else v for v, m, i in zip(self.values, self.is_int, self.ints)]

    def value_at(self, row: int) -> Any:
        """One value, of the type it was tracked as."""
        if self.is_int is not None and self.ints is not None and self.is_int[row]:
            return self.ints[row]
        return self.values[row]

    @property
    def int_values(self) -> bool:
        """True when the values column is int64 (every value tracked was an int)."""
        return self.values.typecode == "q"


def encode_chunk(cols: Columns) -> bytes:
    """One chunk holding ``cols``."""
    parts: list[array[Any]] = [cols.steps, cols.values, cols.epochs, cols.timestamps]
    mixed = cols.is_int is not None and cols.ints is not None
    if mixed:
        parts += [cols.ints, cols.is_int]  # type: ignore[list-item]
    if not _LITTLE:
        parts = [array(p.typecode, p) for p in parts]
        for p in parts:
            p.byteswap()
    body = b"".join(p.tobytes() for p in parts)
    flags = (FLAG_INT_VALUES if cols.int_values else 0) | (FLAG_MIXED if mixed else 0)
    return _HEADER.pack(MAGIC, len(cols), flags, zlib.crc32(body)) + body


def decode_chunks(data: bytes | memoryview, what: str) -> list[Columns]:
    """The chunks of a file's valid bytes; raises ``SeriesCorruptError`` on any mismatch."""
    view = memoryview(data)
    chunks: list[Columns] = []
    pos = 0
    while pos < len(view):
        if len(view) - pos < _HEADER.size:
            raise SeriesCorruptError(f"{what}: truncated chunk header at byte {pos}")
        magic, n, flags, crc = _HEADER.unpack_from(view, pos)
        body_at = pos + _HEADER.size
        end = body_at + (41 if flags & FLAG_MIXED else 32) * n
        if magic != MAGIC or end > len(view):
            raise SeriesCorruptError(f"{what}: bad chunk at byte {pos}")
        body = view[body_at:end]
        if zlib.crc32(body) != crc:
            raise SeriesCorruptError(f"{what}: chunk at byte {pos} fails its checksum")
        cols = Columns(array("q"), array("q" if flags & FLAG_INT_VALUES else "d"), array("q"), array("d"))
        columns = [cols.steps, cols.values, cols.epochs, cols.timestamps]
        if flags & FLAG_MIXED:
            cols.ints, cols.is_int = array("q"), array("b")
            columns += [cols.ints]
            cols.is_int.frombytes(body[40 * n:41 * n])
        for i, col in enumerate(columns):
            col.frombytes(body[8 * n * i:8 * n * (i + 1)])
            if not _LITTLE:
                col.byteswap()
        chunks.append(cols)
        pos = end
    return chunks


def _read_chunk(f: Any, room: int, what: str) -> tuple[Columns, int]:
    """One chunk from a file positioned at its header; (the chunk, its size in bytes)."""
    header = f.read(_HEADER.size)
    if len(header) != _HEADER.size:
        raise SeriesCorruptError(f"{what}: truncated chunk header")
    magic, n, flags, crc = _HEADER.unpack(header)
    mixed = bool(flags & FLAG_MIXED)
    size = _HEADER.size + (41 if mixed else 32) * n
    if magic != MAGIC or size > room:
        raise SeriesCorruptError(f"{what}: bad chunk")
    codes = ["q", "q" if flags & FLAG_INT_VALUES else "d", "q", "d"] + (["q", "b"] if mixed else [])
    columns: list[array[Any]] = []
    body_crc = 0
    for code in codes:
        # Sized first, then filled by readinto: array.fromfile reads into a bytes object and
        # copies it again (a million points: ~40 ms instead of ~10 on the CI machine).
        col = array(code, [0]) * n
        if n and f.readinto(memoryview(col).cast("B")) != n * col.itemsize:
            raise EOFError
        body_crc = zlib.crc32(col, body_crc)
        columns.append(col)
    cols = Columns(*columns[:4])
    if mixed:
        cols.ints, cols.is_int = columns[4], columns[5]
    if body_crc != crc:
        raise SeriesCorruptError(f"{what}: chunk fails its checksum")
    if not _LITTLE:
        for col in columns:
            col.byteswap()
    return cols, size


class SeriesDir:
    """The series directory of one run: its manifest and ``.col`` files, under one lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the directory's lock (``flock``: released by the kernel if the process dies)."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the lock

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest, or None when there is none; ``SeriesCorruptError`` when it is bad."""
        try:
            data = (self.path / MANIFEST).read_bytes()
        except FileNotFoundError:
            return None
        try:
            manifest = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise SeriesCorruptError(f"{self.path}: manifest does not parse ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise SeriesCorruptError(f"{self.path}: manifest of an unknown format")
        return manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest atomically: a reader sees the old one or the new one."""
        tmp = self.path / f"{MANIFEST}.{os.getpid()}.tmp"
        tmp.write_bytes(orjson.dumps({**manifest, "format": FORMAT}))
        os.replace(tmp, self.path / MANIFEST)

    def _file(self, file_id: int) -> Path:
        return self.path / f"{int(file_id)}.col"

    def read(self, file_id: int, length: int) -> list[Columns]:
        """The chunks in the first ``length`` bytes of a file (what the manifest vouches for).

        Columns are read from the file straight into their arrays (one copy, no bytes object
        in between) and checked against the chunk's CRC there."""
        path = self._file(file_id)
        try:
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_size < length:
                    raise SeriesCorruptError(f"{path}: shorter than the {length} bytes the manifest says")
                chunks: list[Columns] = []
                pos = 0
                while pos < length:
                    chunk, size = _read_chunk(f, length - pos, f"{path} at byte {pos}")
                    chunks.append(chunk)
                    pos += size
                return chunks
        except FileNotFoundError:
            raise SeriesCorruptError(f"{path}: missing") from None
        except EOFError:
            raise SeriesCorruptError(f"{path}: shorter than the manifest says") from None

    def append(self, file_id: int, valid: int, cols: Columns) -> int:
        """Append a chunk after the first ``valid`` bytes (cutting what a killed catch-up left
        beyond them); return the new valid length."""
        chunk = encode_chunk(cols)
        fd = os.open(self._file(file_id), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.ftruncate(fd, valid)
            os.lseek(fd, valid, os.SEEK_SET)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        return valid + len(chunk)

    def rewrite(self, file_id: int, cols: Columns) -> int:
        """Replace a file with one chunk (atomically); return its length."""
        chunk = encode_chunk(cols)
        tmp = self.path / f"{int(file_id)}.col.{os.getpid()}.tmp"
        tmp.write_bytes(chunk)
        os.replace(tmp, self._file(file_id))
        return len(chunk)

    def remove(self, file_id: int) -> None:
        """Delete one file (one the manifest no longer names)."""
        try:
            os.unlink(self._file(file_id))
        except FileNotFoundError:
            pass

    def wipe(self) -> None:
        """Remove every file but the lock (the caller holds it)."""
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return
        for name in names:
            if name != "LOCK":
                try:
                    os.unlink(self.path / name)
                except FileNotFoundError:
                    pass


class MemorySeriesDir(SeriesDir):
    """A series directory held in memory: what a reader builds when the repository cannot be
    written (a read-only mount, a full disk). Same interface, nothing persists."""

    def __init__(self) -> None:
        super().__init__(Path("<memory>"))
        self._files: dict[int, bytes] = {}
        self._manifest: dict[str, Any] | None = None

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Nothing to lock: the store is this process's own."""
        yield

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest, or None before the first catch-up."""
        return self._manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Keep the manifest."""
        self._manifest = manifest

    def read(self, file_id: int, length: int) -> list[Columns]:
        """The chunks of a file."""
        return decode_chunks(self._files.get(file_id, b"")[:length], f"<memory {file_id}>")

    def append(self, file_id: int, valid: int, cols: Columns) -> int:
        """Append a chunk; return the new length."""
        data = self._files.get(file_id, b"")[:valid] + encode_chunk(cols)
        self._files[file_id] = data
        return len(data)

    def rewrite(self, file_id: int, cols: Columns) -> int:
        """Replace a file with one chunk; return its length."""
        self._files[file_id] = encode_chunk(cols)
        return len(self._files[file_id])

    def remove(self, file_id: int) -> None:
        """Forget one file."""
        self._files.pop(file_id, None)

    def wipe(self) -> None:
        """Forget everything."""
        self._files.clear()
        self._manifest = None
