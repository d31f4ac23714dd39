"""Read segments: verified frames only, JSON lines out (decoding them is the caller's job).

A reader accepts a frame only after its checksum verified. Damage is classified:

* a **torn tail**: bytes after the last good frame that do not form a valid frame, with no
  valid frame after them (a crash mid-write, zeros or garbage appended). Readers stop there;
  the next lock holder truncates it (``repair.py``).
* **damaged frames**: a bad stretch followed by a valid frame (bit rot, a flipped byte). Readers
  skip it and go on; repair never truncates valid frames away, ``verify`` reports it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aim.storage.frames import ZSTD_MAGIC, FrameError, decompress_frame, frame_length


@dataclass
class SegmentScan:
    """What a full read of one segment found."""

    path: Path
    size: int = 0
    frames: int = 0
    good_end: int = 0
    torn_tail: int = 0
    damaged: list[tuple[int, int]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when every byte belonged to a valid frame."""
        return not self.torn_tail and not self.damaged


def _try_frame(data: bytes, pos: int) -> tuple[int, bytes]:
    length = frame_length(data, pos)
    payload = decompress_frame(memoryview(data)[pos : pos + length])
    return length, payload


def iter_payloads(data: bytes, scan: SegmentScan) -> Iterator[bytes]:
    """Yield the decompressed payload of every valid frame, filling ``scan`` as it goes."""
    pos, end = 0, len(data)
    scan.size = end
    while pos < end:
        try:
            length, payload = _try_frame(data, pos)
        except FrameError:
            nxt = _resync(data, pos + 1)
            if nxt is None:
                scan.torn_tail = end - pos
                return
            scan.damaged.append((pos, nxt))
            pos = nxt
            continue
        if payload and not payload.endswith(b"\n"):
            # Checksum passed but the frame does not hold whole lines: not written by us.
            scan.damaged.append((pos, pos + length))
            pos += length
            continue
        pos += length
        scan.frames += 1
        scan.good_end = pos
        yield payload


def _resync(data: bytes, start: int) -> int | None:
    """Offset of the next valid frame at or after ``start``, or None."""
    pos = data.find(ZSTD_MAGIC, start)
    while pos != -1:
        try:
            _try_frame(data, pos)
            return pos
        except FrameError:
            pos = data.find(ZSTD_MAGIC, pos + 1)
    return None


def first_payload(path: Path, probe: int = 1 << 20) -> bytes | None:
    """The payload of a segment's first frame, when it is whole and verifies (None otherwise):
    what a writer session wrote first. Reads ``probe`` bytes, the whole file only when the
    first frame is longer."""
    try:
        with open(path, "rb") as f:
            data = f.read(probe)
            try:
                return _try_frame(data, 0)[1]
            except FrameError:
                rest = f.read()
            if not rest:
                return None
            return _try_frame(data + rest, 0)[1]
    except (OSError, FrameError):
        return None


def scan_segment(path: Path) -> SegmentScan:
    """Read a whole segment and report its frames and damage (payloads are discarded)."""
    scan = SegmentScan(path)
    for _ in iter_payloads(path.read_bytes(), scan):
        pass
    return scan


def iter_segment_lines(path: Path, scan: SegmentScan | None = None) -> Iterator[bytes]:
    """JSON lines of one segment in order; damaged frames and a torn tail are skipped."""
    scan = scan if scan is not None else SegmentScan(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    for payload in iter_payloads(data, scan):
        for line in payload.splitlines():
            if line:
                yield line
