"""A run's log as events: storage's verified lines, decoded by core's encoding."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aim.core.encoding import decode_event
from aim.storage.layout import RepoLayout
from aim.storage.lock import is_locked
from aim.storage.segment_follower import SegmentFollower
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


def follow_events(
    layout: RepoLayout, run_hash: str, follow: bool = False, poll_interval: float = 0.25
) -> Iterator[dict[str, Any]]:
    """A run's events in order; with ``follow``, keep waiting for new frames until the run's
    writer is gone (it closed, crashed or was killed) and everything it wrote was read."""
    follower = SegmentFollower(layout.events_dir(run_hash))
    lock_file = layout.lock_file(run_hash)
    while True:
        lines = follower.poll()
        for line in lines:
            try:
                yield decode_event(line)
            except ValueError:  # not a JSON object: damage, as full reads count it
                follower.damaged += 1
        if not follow:
            return
        if not lines:
            if not is_locked(lock_file):
                # The writer is gone: one last poll for what it wrote before it let go.
                for line in follower.poll():
                    try:
                        yield decode_event(line)
                    except ValueError:
                        follower.damaged += 1
                return
            time.sleep(poll_interval)
