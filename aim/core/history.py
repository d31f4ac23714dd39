"""A run's current history: what forks and rewinds leave of the points recorded before them.

``run.forked`` (the first event a fork writes after the parent's segments it links) and
``run.rewound`` (recorded by a writer that resumes with ``rewind_to=N``) are **markers**: every
step event (``metric``, ``object``) recorded before a marker belongs to the run's current
history only if its step is at most the marker's ``step``. Nothing is erased: the events stay
in the log (``aim runs tail --all`` shows them), they only stop counting.

"Before" is exact per stream: in the primary stream (where markers are written) an event is
before a marker when its ``seq`` is lower; in another stream, when its ``seq`` is at most the
marker's ``extents[stream]``, the last ``seq`` that stream had when the marker was written.

Sans-IO: the callers read the markers (``RUN_MARKERS`` events of the primary stream) and fold.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aim.core import events as ev

RUN_MARKERS = frozenset({ev.RUN_FORKED, ev.RUN_REWOUND})
STEP_TYPES = frozenset({ev.METRIC, ev.OBJECT})

Bound = Callable[[int], "int | None"]  # seq -> the highest step kept (None: no limit)


@dataclass(frozen=True)
class Marker:
    """A fork or a rewind, as read from its event."""

    seq: int  # the marker's own seq (primary stream)
    step: int
    extents: dict[str, int] = field(default_factory=dict)  # other streams: last seq before it


_NEEDLES = tuple(f'"{t}"'.encode() for t in sorted(RUN_MARKERS))


def may_hold_marker(data: bytes) -> bool:
    """False when stored bytes (a frame, a line) cannot hold a marker: only those that can are
    decoded."""
    return any(needle in data for needle in _NEEDLES)


def marker_of(event: dict[str, Any]) -> Marker | None:
    """The marker an event is, or None (not a marker, or not one aim writes)."""
    if event.get("type") not in RUN_MARKERS:
        return None
    seq, step, extents = event.get("seq"), event.get("step"), event.get("extents") or {}
    if type(seq) is not int or type(step) is not int or not isinstance(extents, dict):
        return None
    return Marker(seq, step, {k: v for k, v in extents.items() if isinstance(k, str) and type(v) is int})


class History:
    """The bounds a run's markers put on each stream's step events."""

    def __init__(self, markers: Iterable[Marker]) -> None:
        self.markers = sorted(markers, key=lambda m: m.seq)

    def __bool__(self) -> bool:
        return bool(self.markers)

    def bound(self, stream: str) -> Bound | None:
        """For one stream (``""``: the primary): seq -> the highest step an event with that seq
        keeps, or None when no marker bounds it. None when the run has no marker at all."""
        if not self.markers:
            return None
        # The last seq of this stream before each marker, in marker order (never decreasing).
        ends = [m.seq - 1 if stream == "" else m.extents.get(stream, -1) for m in self.markers]
        # suffix[i]: the lowest step of markers i.. (an event before marker i is before them all)
        suffix: list[int] = [0] * len(ends)
        low = None
        for i in range(len(ends) - 1, -1, -1):
            step = self.markers[i].step
            low = step if low is None else min(low, step)
            suffix[i] = low

        def bound(seq: int) -> int | None:
            i = bisect_left(ends, seq)
            return suffix[i] if i < len(ends) else None

        return bound


def keeps(bound: Bound | None, event: dict[str, Any]) -> bool:
    """True when ``event`` belongs to the current history under ``bound``."""
    if bound is None or event.get("type") not in STEP_TYPES:
        return True
    limit = bound(event.get("seq", -1))
    step = event.get("step", 0)
    return limit is None or not isinstance(step, int) or step <= limit
