"""Zstd frame framing: compress one batch into one checksummed frame; find frame boundaries.

A segment is a concatenation of zstd frames. To split a segment without decompressing it we
walk the frame format (RFC 8878 section 3.1.1): header, then block headers that carry their
sizes, then the optional 4-byte content checksum. Decompression of each frame then verifies
that checksum.
"""

from __future__ import annotations

import struct

import zstandard

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_SKIPPABLE_LOW, _SKIPPABLE_HIGH = 0x184D2A50, 0x184D2A5F  # zstd skippable frame magics

# LAZY2 with min_match 6 from a level-1 base: measured on metric lines (random float64
# values) it stores about 12.5 bytes per event against 14.2 at level 1 and 16.9 at level 3,
# and it runs in the flusher with the GIL released.
COMPRESSION_PARAMS = zstandard.ZstdCompressionParameters.from_level(
    1,
    strategy=zstandard.STRATEGY_LAZY2,
    min_match=6,
    write_checksum=True,
    write_content_size=True,
)


def new_compressor() -> zstandard.ZstdCompressor:
    """A compressor that writes one checksummed frame per ``compress`` call."""
    return zstandard.ZstdCompressor(compression_params=COMPRESSION_PARAMS)


class FrameError(ValueError):
    """A frame that is incomplete, malformed or fails its checksum."""


def frame_length(data: bytes | memoryview, pos: int) -> int:
    """Total length of the frame starting at ``pos``; ``FrameError`` when it is incomplete."""
    end = len(data)
    if pos + 4 > end:
        raise FrameError("truncated frame magic")
    (magic,) = struct.unpack_from("<I", data, pos)
    if _SKIPPABLE_LOW <= magic <= _SKIPPABLE_HIGH:
        # Valid zstd, but it carries no checksum and aim never writes one: bytes like these
        # after a crash are garbage (a tail to repair, or damage), not a frame to trust.
        raise FrameError("skippable frame (aim never writes one; it has no checksum)")
    if bytes(data[pos : pos + 4]) != ZSTD_MAGIC:
        raise FrameError("no zstd frame magic")
    p = pos + 4
    if p >= end:
        raise FrameError("truncated frame header")
    fhd = data[p]
    p += 1
    fcs_flag, single_segment = fhd >> 6, (fhd >> 5) & 1
    if (fhd >> 3) & 1:
        raise FrameError("reserved bit set in frame header")
    has_checksum, dict_flag = (fhd >> 2) & 1, fhd & 3
    p += 0 if single_segment else 1
    p += (0, 1, 2, 4)[dict_flag]
    p += (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    while True:
        if p + 3 > end:
            raise FrameError("truncated block header")
        header = data[p] | (data[p + 1] << 8) | (data[p + 2] << 16)
        p += 3
        last, btype, bsize = header & 1, (header >> 1) & 3, header >> 3
        if btype == 3:
            raise FrameError("reserved block type")
        p += 1 if btype == 1 else bsize
        if p > end:
            raise FrameError("truncated block")
        if last:
            break
    p += 4 if has_checksum else 0
    if p > end:
        raise FrameError("truncated checksum")
    return p - pos


def decompress_frame(frame: bytes | memoryview) -> bytes:
    """Decompress one whole frame, verifying its checksum; ``FrameError`` on any damage."""
    try:
        obj = zstandard.ZstdDecompressor().decompressobj()
        out = obj.decompress(frame)
        if not obj.eof:
            raise FrameError("frame did not end")
        return out
    except zstandard.ZstdError as exc:
        raise FrameError(str(exc)) from None
