"""W&B's transaction log (``run-<id>.wandb``) read record by record, and its items decoded,
for ``aim convert wandb``.

wandb 0.31 has no Python reader for these files any more (wandb-core, in Go, reads them), so the
framing is read here and each record is decoded with the wandb package's own protobuf classes.

The framing is LevelDB's log format (``core/pkg/leveldb/record.go`` in wandb's repository) after
a 7-byte W&B header: ``":W&B"``, the magic ``0xBEE1`` (little-endian uint16) and the version
byte ``0``. The file is cut in 32 KiB blocks (the first one holds the W&B header); each chunk has
a 7-byte header (checksum uint32 LE, length uint16 LE, type uint8) and its payload, and never
crosses a block: a block's last 0 to 6 bytes are zero padding. A record is one FULL chunk, or a
FIRST, MIDDLE... and LAST chunk. The checksum is a plain CRC-32 (IEEE, ``zlib.crc32``, not
LevelDB's masked CRC-32C) of the type byte and the payload: wandb-core writes the file with
``CRCAlgoIEEE``, as the old Python writer (``wandb/sdk/internal/datastore.py``) did.

A run killed mid-write leaves a file that ends inside a record (a chunk cut short, a FIRST
chunk with no LAST): reading stops at the last whole record and says so (``torn``). Anything
else that does not fit (a checksum that does not match, a chunk type out of order, a payload
protobuf cannot decode) is corruption, raised as ``CorruptLogError``.
"""

from __future__ import annotations

import importlib
import json
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aim.errors import require

W_B_HEADER = struct.Struct("<4sHB")  # ident, magic, version
W_B_IDENT = b":W&B"
W_B_MAGIC = 0xBEE1
W_B_VERSION = 0
BLOCK = 32 * 1024
CHUNK = struct.Struct("<IHB")  # checksum, length, type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


class CorruptLogError(ValueError):
    """A transaction log that is not whole in its middle, or not a W&B transaction log."""


def record_class() -> Any:
    """wandb's ``Record`` protobuf class; a missing wandb package is a ``MissingExtraError``."""
    # Imported by name: wandb's generated modules pick their classes by protobuf version at run time,
    # which mypy cannot follow (and protobuf has no stubs installed here).
    return require("wandb.proto.wandb_internal_pb2", integration="aim convert wandb", extra="wandb",
                   package="wandb").Record


class TransactionLog:
    """The records of one ``.wandb`` file, in the order written: iterate it (once).

    After the iteration, ``torn`` is True when the file ended inside a record (the whole
    records before it were given)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.torn = False

    def __iter__(self) -> Iterator[Any]:
        decode_error = importlib.import_module("google.protobuf.message").DecodeError
        record = record_class()
        for offset, payload in self.payloads():
            message = record()
            try:
                message.ParseFromString(payload)
            except decode_error as exc:
                raise CorruptLogError(f"the record at byte {offset} does not decode: {exc}") from None
            yield message

    def payloads(self) -> Iterator[tuple[int, bytes]]:
        """``(offset, bytes)`` of each whole record (see the module docstring)."""
        with open(self.path, "rb") as f:
            block = f.read(BLOCK)
            _check_header(block[:W_B_HEADER.size])
            base, pos = 0, W_B_HEADER.size  # the block's offset in the file; the position in it
            parts: list[bytes] = []  # the chunks of a record begun (FIRST) and not ended yet
            start = 0  # the offset of that record
            while True:
                if len(block) - pos < CHUNK.size:
                    if len(block) < BLOCK:  # the file's last block ends here
                        self.torn = bool(parts) or pos < len(block)  # a record, or a header, cut
                        return
                    base, pos = base + BLOCK, 0  # skip the block's zero padding
                    block = f.read(BLOCK)
                    continue
                checksum, length, kind = CHUNK.unpack_from(block, pos)
                end = pos + CHUNK.size + length
                if checksum == 0 and length == 0 and kind == 0 and not any(block[pos:]) and not parts:
                    # Zeros to the end of a block: a file grown by its filesystem and never
                    # written (wandb-core's reader skips such a block too).
                    if len(block) < BLOCK and not any(f.read()):
                        self.torn = True
                        return
                    pos = len(block)
                    continue
                if end > len(block):
                    if len(block) < BLOCK and not f.read(1):  # the chunk is cut by the end of the file
                        self.torn = True
                        return
                    raise CorruptLogError(f"the chunk at byte {base + pos} is longer than its block")
                payload = block[pos + CHUNK.size:end]
                if zlib.crc32(payload, zlib.crc32(bytes((kind,)))) != checksum:
                    raise CorruptLogError(f"the chunk at byte {base + pos} fails its checksum")
                if kind == FULL and not parts:
                    yield base + pos, payload
                elif kind == FIRST and not parts:
                    parts, start = [payload], base + pos
                elif kind in (MIDDLE, LAST) and parts:
                    parts.append(payload)
                    if kind == LAST:
                        yield start, b"".join(parts)
                        parts = []
                else:
                    raise CorruptLogError(f"the chunk at byte {base + pos} is of type {kind}, out of order")
                pos = end


def _check_header(header: bytes) -> None:
    if len(header) < W_B_HEADER.size:
        raise CorruptLogError(f"not a W&B transaction log: {len(header)} bytes, no header")
    ident, magic, version = W_B_HEADER.unpack(header)
    if ident != W_B_IDENT or magic != W_B_MAGIC:
        raise CorruptLogError(f"not a W&B transaction log: it starts with {header!r}")
    if version != W_B_VERSION:
        raise CorruptLogError(f"a W&B transaction log of version {version}; this reader knows {W_B_VERSION}")


def find_logs(root: Path) -> list[Path]:
    """The transaction logs under ``root`` (``run-<id>.wandb`` in a run folder), sorted by path:
    offline-run-* folders and synced run-* folders alike. Symbolic links to folders (W&B's
    ``latest-run``) are not followed, so no run is found twice."""
    found: list[Path] = []
    for folder, _dirs, files in os.walk(root):
        found.extend(Path(folder) / name for name in files
                     if name.startswith("run-") and name.endswith(".wandb"))
    return sorted(found)


def item_values(items: Any) -> Iterator[tuple[list[str], Any]]:
    """``(key path, value)`` of W&B's config, summary and history items."""
    for item in items:
        yield list(item.nested_key) or [item.key], item_value(item)


def item_value(item: Any) -> Any:
    """An item's value: its ``value_json`` (``NaN``, ``Infinity`` included; json.loads gives
    W&B's float64 bit for bit), or the typed field some versions of HistoryItem have."""
    if item.value_json:
        return json.loads(item.value_json)
    oneofs = item.DESCRIPTOR.oneofs_by_name
    kind = item.WhichOneof("value") if "value" in oneofs else None
    if kind is None or kind == "none":
        return None
    if kind == "json":
        return json.loads(item.json)
    return getattr(item, kind)


def get_path(tree: dict[str, Any], path: list[str]) -> Any:
    """``tree[path[0]][path[1]]...``, or None."""
    node: Any = tree
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def flat_row(row: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(key, value)`` of a history row as the W&B API flattens it (nested dicts joined with
    ``.``), media dicts kept whole; W&B's own ``_`` keys (``_step``, ``_runtime``...) left out."""
    for key, value in row.items():
        if not prefix and key.startswith("_"):
            continue
        if isinstance(value, dict) and value and "_type" not in value:
            yield from flat_row(value, f"{prefix}{key}.")
        else:
            yield prefix + key, value
