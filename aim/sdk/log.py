"""A run's log as events: storage's verified lines, decoded by core's encoding."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from aim.core.encoding import decode_event
from aim.core.history import History, Marker, keeps, marker_of, may_hold_marker
from aim.storage.layout import RepoLayout
from aim.storage.segment_follower import SegmentFollower
from aim.storage.segment_reader import SegmentScan, first_payload, iter_segment_lines


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


def iter_events_of(paths: list[Path], etype: str) -> Iterator[dict[str, Any]]:
    """The events of one type among several segments, in order, decoding only the lines that
    can hold it: a line of another type is skipped on its bytes (a run's million metric lines
    are never parsed to find its hundred images). A line with a JSON escape is always decoded,
    since its type could be spelled with one."""
    needle = etype.encode()
    for path in paths:
        for line in iter_segment_lines(path, SegmentScan(path)):
            if needle in line or b"\\u" in line:
                try:
                    event = decode_event(line)
                except ValueError:
                    continue  # damage: counted by the readers that report it (verify)
                if event.get("type") == etype:
                    yield event


def run_history(layout: RepoLayout, run_hash: str, extra: Marker | None = None) -> History:
    """The run's forks and rewinds (``core.history``), read from the first frame of each of
    its primary segments: a writer session writes its markers first, and only there."""
    markers = [m for path in layout.stream_segment_paths(run_hash) for m in segment_markers(path)]
    return History(markers if extra is None else [*markers, extra])


def segment_markers(path: Path) -> list[Marker]:
    """The fork and rewind markers in a segment's first frame (the only place they are)."""
    payload = first_payload(path)
    if payload is None or not may_hold_marker(payload):
        return []
    markers = []
    for line in payload.splitlines():
        if may_hold_marker(line):
            try:
                marker = marker_of(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
            if marker is not None:
                markers.append(marker)
    return markers


def iter_run_events(layout: RepoLayout, run_hash: str, etype: str | None = None,
                    everything: bool = False) -> Iterator[dict[str, Any]]:
    """A run's events (of type ``etype``, when given), stream by stream in ``stream_ids``
    order: its current history, or with ``everything`` what forks and rewinds left out too."""
    history = None if everything else run_history(layout, run_hash)
    for stream in layout.stream_ids(run_hash):
        bound = history.bound(stream) if history else None
        paths = layout.stream_segment_paths(run_hash, stream)
        for event in iter_events_of(paths, etype) if etype is not None else iter_events(paths):
            if bound is None or keeps(bound, event):
                yield event


def follow_batches(
    layout: RepoLayout, run_hash: str, follow: bool = False, poll_interval: float = 0.25,
    everything: bool = True,
) -> Iterator[list[bytes]]:
    """A run's stored JSON lines, exactly as stored, one list per poll (the first holds all
    that existed); with ``follow``, keep polling until the run's writer is gone (it closed,
    crashed or was killed) and everything it wrote was read. Only complete, checksum-verified
    frames are ever read. A run of several streams (docs/distributed.md): each poll reads each
    stream in turn, so every stream's lines keep their order; a stream that appears is
    followed from its start, and following ends when no stream has a live writer. Without
    ``everything``, only the run's current history: the step events forks and rewinds left out
    are skipped (the markers are read again when the primary stream gains a segment)."""
    followers: dict[str, SegmentFollower] = {}
    seen: list[Any] = [-1, History([])]  # primary segments when the markers were read; them

    def current() -> History:
        count = len(layout.segment_numbers(run_hash))
        if count != seen[0]:
            seen[:] = [count, run_history(layout, run_hash)]
        return seen[1]

    def poll() -> list[bytes]:
        lines: list[bytes] = []
        history = None if everything else current()
        for stream in layout.stream_ids(run_hash):
            follower = followers.get(stream)
            if follower is None:
                follower = followers[stream] = SegmentFollower(layout.events_dir(run_hash, stream))
            got = follower.poll()
            bound = history.bound(stream) if history else None
            if bound is not None:
                got = [line for line in got if _line_kept(bound, line)]
            lines += got
        return lines

    first = True
    while True:
        lines = poll()
        if lines or first:
            yield lines
        first = False
        if not follow:
            return
        if not lines:
            if not layout.is_live(run_hash):
                rest = poll()  # what the writers wrote before they let go
                if rest:
                    yield rest
                return
            time.sleep(poll_interval)


def _line_kept(bound: Any, line: bytes) -> bool:
    """``keeps`` for a stored line, decoded only when it can be a step event."""
    if b'"metric"' not in line and b'"object"' not in line:
        return True
    try:
        return keeps(bound, decode_event(line))
    except ValueError:
        return True  # damage is for the readers that report it


def follow_lines(
    layout: RepoLayout, run_hash: str, follow: bool = False, poll_interval: float = 0.25
) -> Iterator[bytes]:
    """``follow_batches``, line by line."""
    for batch in follow_batches(layout, run_hash, follow, poll_interval):
        yield from batch


def follow_events(
    layout: RepoLayout, run_hash: str, follow: bool = False, poll_interval: float = 0.25
) -> Iterator[dict[str, Any]]:
    """``follow_lines`` decoded into events (a line that is not a JSON object is skipped)."""
    for line in follow_lines(layout, run_hash, follow, poll_interval):
        try:
            yield decode_event(line)
        except ValueError:
            continue
