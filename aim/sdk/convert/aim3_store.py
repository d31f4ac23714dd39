"""Reading an Aim 3.x repository without Aim 3: its RocksDB stores through ``aimrocks`` (the
same binding Aim 3 uses, from the package registry) and a decoder of Aim 3's documented
encoding (``aim/storage/encoding/encoding.pyx``, ``treeutils.pyx`` in Aim 3.29).

Aim 3 cannot be imported beside this package (both are ``aim``), so nothing here imports it.

The layout of ``.aim/`` (Aim 3.29):

- ``meta/chunks/<hash>/``: one RocksDB per run; keys under ``meta/chunks/<hash>/`` hold the
  run's tree: ``attrs`` (params), ``contexts`` (context id -> dict), ``traces`` (per context
  and name: dtype, version...), ``end_time``.
- ``seqs/chunks/<hash>/``: one RocksDB per run with its sequences. Version 1
  (``seqs/chunks/<hash>/<ctx>/<name>/<col>/<step>``, objects and logs) is keyed by the step;
  version 2 (``seqs/v2/chunks/<hash>/<ctx>/<name>/<col>/<key>``, metrics) by a hash of the step,
  with the step itself in the ``step`` column. Columns: ``val``, ``epoch``, ``time`` (and
  ``step``).
- ``run_metadata.sqlite``: name, description, experiment, tags, archived, creation time.

Encoding: a key is a path of parts, each a UTF-8 string followed by ``0xFE``, or ``0xFE`` + a
big-endian int64 + ``0xFE``. A value is one type byte then its content (None, bool, little-endian
int64, little-endian double, UTF-8 string, bytes, or the flags that open an array, a dict or a
custom object named by its Aim type). A dict with children writes no flag of its own. A value
that is a BLOB (image bytes, long text) is stored empty, and its content is under the same key
with the prefix ``BLOBS/``.

A database is opened read-only: RocksDB replays its write-ahead log in memory and writes no
file, so the source stays as it was (the tests check it byte for byte).
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aim.core.params import set_path
from aim.errors import require

SENTINEL = 0xFE
BLOBS_PREFIX = b"BLOBS\xfe"
_NONE, _BOOL, _INT, _FLOAT, _STRING, _BYTES, _ARRAY, _OBJECT, _CUSTOM = 0, 1, 2, 3, 4, 5, 6, 7, 15

Path_ = tuple[str | int, ...]


class Aim3Error(Exception):
    """A value or key that is not Aim 3's encoding (a corrupt store)."""


class _Flag:
    """A container opened by a flag: an array, a dict, or a custom object of ``type``."""

    def __init__(self, kind: str, type_name: str = "") -> None:
        self.kind = kind
        self.type_name = type_name


class _Blob:
    """A value whose content is under ``BLOBS/`` + its key."""


BLOB = _Blob()


@dataclass
class Aim3Object:
    """A custom object of Aim 3 (``aim.image``, ``aim.log_line``...): its type and storage."""

    type_name: str
    storage: dict[str, Any] = field(default_factory=dict)


def encode_path(path: Path_) -> bytes:
    """The key of ``path`` (for a prefix): the inverse of ``split_path``."""
    out = bytearray()
    for part in path:
        if isinstance(part, int):
            out += b"\xfe" + part.to_bytes(8, "big", signed=True) + b"\xfe"
        else:
            out += part.encode("utf-8") + b"\xfe"
    return bytes(out)


def split_path(key: bytes) -> Path_:
    """The parts of an encoded key."""
    parts: list[str | int] = []
    i, n = 0, len(key)
    while i < n:
        if key[i] == SENTINEL:  # an integer part: sentinel, 8 bytes, sentinel
            if i + 9 >= n or key[i + 9] != SENTINEL:
                raise Aim3Error(f"a torn integer key part in {key[:80]!r}")
            parts.append(int.from_bytes(key[i + 1:i + 9], "big", signed=True))
            i += 10
            continue
        j = key.find(b"\xfe", i)
        if j < 0:
            raise Aim3Error(f"a key part without its end in {key[:80]!r}")
        parts.append(key[i:j].decode("utf-8"))
        i = j + 1
    return tuple(parts)


def split_cell(rel: bytes) -> tuple[bytes, bytes, int, bytes] | None:
    """A sequence key ``<ctx>/<name>/<column>/<key>[/<object path>]``, cut without decoding
    every part (the import's hot loop): the encoded ``<ctx>/<name>``, the column, the key, and
    the encoded rest; None for a key above a cell (a column's array flag)."""
    i = 10 if rel[:1] == b"\xfe" else rel.index(b"\xfe") + 1  # past <ctx>, an int part
    j = rel.index(b"\xfe", i) + 1  # past <name>
    k = rel.find(b"\xfe", j)  # the end of <column>
    if k < 0 or k + 1 == len(rel):
        return None
    if rel[k + 1] != SENTINEL or len(rel) < k + 11:
        raise Aim3Error(f"a sequence key without its integer key: {rel[:80]!r}")
    return rel[:j], rel[j:k], int.from_bytes(rel[k + 2:k + 10], "big", signed=True), rel[k + 11:]


def decode_value(buf: bytes) -> Any:
    """One value: a primitive, a ``_Flag``, or ``BLOB`` (an empty buffer)."""
    if not buf:
        return BLOB
    kind, body = buf[0], buf[1:]
    if kind == _NONE:
        return None
    if kind == _BOOL:
        return body[:1] != b"\x00"
    if kind == _INT:
        return struct.unpack("<q", body[:8])[0]
    if kind == _FLOAT:
        return struct.unpack("<d", body[:8])[0]
    if kind == _STRING:
        return body.decode("utf-8")
    if kind == _BYTES:
        return bytes(body)
    if kind == _ARRAY:
        return _Flag("array")
    if kind == _OBJECT:
        return _Flag("dict")
    if kind == _CUSTOM:
        return _Flag("custom", body.decode("utf-8"))
    raise Aim3Error(f"unknown value type {kind}")


def fold(items: list[tuple[Path_, Any]]) -> Any:
    """The value that ``(path, value)`` pairs (relative paths, in key order) unfold: dicts,
    lists, ``Aim3Object``s and primitives, as Aim 3's ``fold_tree``."""
    root: dict[Any, Any] = {}
    kinds: dict[int, _Flag] = {}  # id(container) -> its flag, when one was written

    def container_for(flag: _Flag) -> dict[Any, Any]:
        node: dict[Any, Any] = {}
        kinds[id(node)] = flag
        return node

    for path, value in items:
        made = container_for(value) if isinstance(value, _Flag) else value
        if path:
            set_path(root, path, made)
        elif isinstance(made, dict):  # the value's own flag: the root is that container
            kinds[id(root)] = kinds.pop(id(made))
        else:
            return made

    def finish(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        flag = kinds.get(id(node))
        done = {k: finish(v) for k, v in node.items()}
        if flag is not None and flag.kind == "array":
            out: list[Any] = []
            for k in sorted(k for k in done if isinstance(k, int)):
                out.extend([None] * (k - len(out)))
                out.append(done[k])
            return out
        if flag is not None and flag.kind == "custom":
            return Aim3Object(flag.type_name, done)
        return done

    return finish(root)


def require_aimrocks() -> Any:
    """The ``aimrocks`` module (Aim 3's RocksDB binding), or ``MissingExtraError``."""
    return require("aimrocks", integration="aim convert aim3", extra="aim3")


class RunDB:
    """One of a run's RocksDB stores, open read-only."""

    def __init__(self, path: Path) -> None:
        rocks = require_aimrocks()
        if not (path / "CURRENT").is_file():
            raise Aim3Error(f"{path} is not a RocksDB store")
        self._db = rocks.DB(str(path), rocks.Options(create_if_missing=False), read_only=True)

    def items(self, prefix: bytes) -> Iterator[tuple[bytes, Any]]:
        """``(key after prefix, decoded value)`` of every key under ``prefix``, in key order;
        a BLOB's content is read from its ``BLOBS/`` key."""
        it = self._db.iteritems()
        it.seek(prefix)
        for key, raw in it:
            if not key.startswith(prefix):
                break
            value = decode_value(raw)
            if value is BLOB:
                blob = self._db.get(BLOBS_PREFIX + key)
                if blob is None:
                    raise Aim3Error(f"the BLOB of {key[:80]!r} is missing")
                value = decode_value(blob)
            yield key[len(prefix):], value

    def tree(self, prefix: bytes) -> Any:
        """The folded value under ``prefix`` (None when there is nothing)."""
        items = [(split_path(k), v) for k, v in self.items(prefix)]
        return fold(items) if items else None

    def close(self) -> None:
        """Let RocksDB go (aimrocks closes when the object is dropped)."""
        del self._db


@dataclass
class RunMeta:
    """What ``run_metadata.sqlite`` says of a run."""

    name: str | None = None
    description: str | None = None
    experiment: str | None = None
    archived: bool = False
    created_at: float | None = None
    tags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _utc(stamp: Any) -> float | None:
    # Aim 3 stores datetime.utcnow(): a naive UTC time.
    if not stamp:
        return None
    return datetime.fromisoformat(str(stamp)).replace(tzinfo=timezone.utc).timestamp()


def read_metadata(aim_dir: Path) -> dict[str, RunMeta]:
    """Every run's row in ``run_metadata.sqlite``, by hash; read-only (``mode=ro``)."""
    db_path = aim_dir / "run_metadata.sqlite"
    if not db_path.is_file():
        return {}
    con = sqlite3.connect(f"{db_path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        out: dict[str, RunMeta] = {}
        for run_id, run_hash, name, description, archived, created, experiment in con.execute(
                "SELECT run.id, run.hash, run.name, run.description, run.is_archived, run.created_at, "
                "experiment.name FROM run LEFT JOIN experiment ON run.experiment_id = experiment.id"):
            meta = out[run_hash] = RunMeta(name, description, experiment, bool(archived), _utc(created))
            meta.tags = [t for (t,) in con.execute(
                "SELECT tag.name FROM run_tag JOIN tag ON run_tag.tag_id = tag.id WHERE run_tag.run_id = ? "
                "ORDER BY tag.id", (run_id,))]
            tables = {t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "note" in tables:
                meta.notes = [c for (c,) in con.execute(
                    "SELECT content FROM note WHERE run_id = ? ORDER BY id", (run_id,))]
        return out
    finally:
        con.close()


def find_aim_dir(path: Path) -> Path:
    """The ``.aim`` folder of an Aim 3 repository given as its parent or itself."""
    for candidate in (path / ".aim", path):
        if (candidate / "meta").is_dir() or (candidate / "run_metadata.sqlite").is_file():
            return candidate
    raise FileNotFoundError(f"no Aim 3 repository at {path} (no .aim/meta)")


def run_hashes(aim_dir: Path) -> list[str]:
    """The repository's runs, as Aim 3 lists them (``meta/chunks/<hash>``), sorted."""
    chunks = aim_dir / "meta" / "chunks"
    return sorted(p.name for p in chunks.iterdir() if p.is_dir()) if chunks.is_dir() else []
