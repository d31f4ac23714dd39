"""Follow a run's segments as they grow: each complete, verified frame once, in order.

A live segment ends in a frame being written: ``poll`` stops at the first frame that does not
verify and retries it at the next poll, so half a frame is never decoded. A bad stretch with a
valid frame after it (damage, not a tail still being written) is skipped, as full reads skip
it. New segments (rotation, resumes, tombstones) are picked up in number order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from aim.storage.frames import FrameError
from aim.storage.layout import segment_name, segment_numbers_in
from aim.storage.segment_reader import _resync, _try_frame


class SegmentFollower:
    """Incremental reader of one run's ``events/`` directory.

    ``offsets`` (segment number -> bytes consumed) resumes where an earlier follower stopped:
    the series store keeps them in its manifest.
    """

    def __init__(self, events_dir: Path, offsets: dict[int, int] | None = None) -> None:
        self.events_dir = events_dir
        self.offsets: dict[int, int] = dict(offsets or {})
        self.damaged = 0  # bad stretches skipped

    def poll(self) -> list[bytes]:
        """The JSON lines of every frame completed since the last poll."""
        lines: list[bytes] = []
        for frame_lines in self.frames():
            lines.extend(frame_lines)
        return lines

    def frames(self) -> Iterator[list[bytes]]:
        """The lines of each frame completed since the last poll, frame by frame (the offsets
        move on as each is yielded, so a reader can stream a long log)."""
        numbers = segment_numbers_in(self.events_dir)
        for i, number in enumerate(numbers):
            path = self.events_dir / segment_name(number)
            offset = self.offsets.get(number, 0)
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    data = f.read()
            except FileNotFoundError:  # pruned or moved away meanwhile
                continue
            if not data:
                continue
            later_exists = i + 1 < len(numbers)
            pos = 0
            while pos < len(data):
                try:
                    length, payload = _try_frame(data, pos)
                except FrameError:
                    # Still being written, unless a valid frame follows (damage: skip it) or a
                    # later segment exists (this one is sealed: what is left is a torn tail).
                    nxt = _resync(data, pos + 1)
                    if nxt is not None:
                        self.damaged += 1
                        pos = nxt
                        continue
                    if later_exists:
                        pos = len(data)
                    break
                pos += length
                self.offsets[number] = offset + pos
                if payload.endswith(b"\n"):
                    yield [line for line in payload.splitlines() if line]
                elif payload:
                    self.damaged += 1
            self.offsets[number] = offset + pos
