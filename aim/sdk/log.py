"""A run's log as events: storage's verified lines, decoded by core's encoding."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aim.core.encoding import decode_event
from aim.storage.segment_reader import SegmentScan, iter_segment_lines


def iter_segment_events(path: Path, scan: SegmentScan | None = None) -> Iterator[dict[str, Any]]:
    """Events of one segment in order. A line that is not a JSON object is counted as damage."""
    scan = scan if scan is not None else SegmentScan(path)
    for line in iter_segment_lines(path, scan):
        try:
            yield decode_event(line)
        except ValueError:  # orjson.JSONDecodeError is a ValueError
            scan.damaged.append((-1, -1))


def iter_events(paths: list[Path]) -> Iterator[dict[str, Any]]:
    """Events of several segments, in the order given."""
    for path in paths:
        yield from iter_segment_events(path)
