"""RunState: the writer's in-memory state, driven like a sans-IO protocol object.

The shell calls ``track_metric``/``record`` with values and a timestamp it read itself, and
drains ``take_batch()`` to get the events to write. Nothing here touches files, threads or
clocks; the shell holds its lock around every call.

Lifecycle, as a table: a writer session is ``running`` until ``finish`` moves it to one of
``END_STATUSES``; after that every write raises ``RunClosedError``.
"""

from __future__ import annotations

from typing import Any

import orjson

from aim.core import events as ev
from aim.core.encoding import decode_event, encode_event
from aim.core.projection import (
    LAST_VALUE,
    NEXT_STEP,
    POINTS,
    RunSummary,
    SeqKey,
    apply,
    new_sequence_entry,
)
from aim.errors import RunClosedError

TRANSITIONS: dict[str, frozenset[str]] = {
    ev.STATUS_RUNNING: ev.END_STATUSES,
    ev.STATUS_FINISHED: frozenset(),
    ev.STATUS_FAILED: frozenset(),
    ev.STATUS_TERMINATED: frozenset(),
    "frozen": frozenset(),
}

FRAGMENT = 4  # writer-only slot after projection's [next_step, points, last_value, context]

# Samples that never change a run's summary: not worth a round trip through the projection.
_SAMPLE_TYPES = frozenset({ev.METRIC, ev.LOG_LINE, ev.LOG_RECORD})


class RunState:
    """Sequence numbers, step counters, the pending buffer and the run's summary."""

    def __init__(self, summary: RunSummary) -> None:
        self.summary = summary
        self.next_seq = summary.last_seq + 1
        self.sequences = summary.sequences
        self.status = ev.STATUS_RUNNING
        self.closed_reason = "run is closed; reopen it with Run(run_hash=...) to write more"
        self.pending: list[dict[str, Any]] = []
        # Each writer-side entry carries its context pre-serialized (index FRAGMENT): the
        # flusher embeds it as-is, and a user mutating their context dict after track()
        # cannot change an event already tracked.
        for key, entry in summary.sequences.items():
            entry.append(orjson.Fragment(key[1]))
        self.new_sequences: list[SeqKey] = []
        self.summary_dirty = True

    @property
    def open(self) -> bool:
        """True while the writer session accepts events."""
        return self.status == ev.STATUS_RUNNING

    def track_metric(
        self,
        value: float | int | str,
        name: str,
        step: int | None,
        epoch: int | None,
        key: SeqKey,
        ts: float,
    ) -> int:
        """Append one metric event; return the pending count. Value and key are pre-validated."""
        if self.status != ev.STATUS_RUNNING:
            raise RunClosedError(self.closed_reason)
        entry = self.sequences.get(key)
        if entry is None:
            entry = self._new_sequence(key)
        # Same rule as projection.apply_metric, inlined: this is the hot path.
        if step is None:
            step = entry[NEXT_STEP]
            entry[NEXT_STEP] = step + 1
            entry[LAST_VALUE] = value
        elif step >= entry[NEXT_STEP] - 1:
            entry[NEXT_STEP] = step + 1
            entry[LAST_VALUE] = value
        entry[POINTS] += 1
        seq = self.next_seq
        self.next_seq = seq + 1
        pending = self.pending
        # "epoch" is left out when there is none (readers and jq see null): ~0.2 byte/event.
        if epoch is None:
            pending.append({"seq": seq, "ts": ts, "type": "metric", "name": name,
                            "context": entry[FRAGMENT], "step": step, "value": value})
        else:
            pending.append({"seq": seq, "ts": ts, "type": "metric", "name": name,
                            "context": entry[FRAGMENT], "step": step, "epoch": epoch, "value": value})
        return len(pending)

    def _new_sequence(self, key: SeqKey) -> list[Any]:
        # The canonical (sorted, copied) form, not the caller's dict, which they may mutate.
        entry = self.sequences[key] = new_sequence_entry(orjson.loads(key[1]))
        entry.append(orjson.Fragment(key[1]))
        self.new_sequences.append(key)
        return entry

    def record(self, etype: str, ts: float, payload: dict[str, Any] | None = None) -> int:
        """Append a non-metric event and fold it into the summary; return the pending count."""
        if self.status != ev.STATUS_RUNNING:
            raise RunClosedError(self.closed_reason)
        return self._append(etype, ts, payload)

    def _append(self, etype: str, ts: float, payload: dict[str, Any] | None) -> int:
        event: dict[str, Any] = {"seq": self.next_seq, "ts": ts, "type": etype}
        if payload:
            event.update(payload)
        if etype not in _SAMPLE_TYPES:
            # Fold what readers will see (the decoded form), so the summary equals a replay.
            apply(self.summary, decode_event(encode_event(event)))
            self.summary_dirty = True
        self.next_seq += 1
        self.pending.append(event)
        return len(self.pending)

    def freeze(self, reason: str) -> None:
        """Refuse every later write with ``reason`` (read-only runs, forked children)."""
        self.status = "frozen"
        self.closed_reason = reason

    def finish(self, status: str, ts: float) -> None:
        """Record ``run.finished`` with ``status`` and close the session."""
        if status not in TRANSITIONS[self.status]:
            raise RunClosedError(
                self.closed_reason if self.status == "frozen"
                else f"run is already {self.status}; cannot become {status}"
            )
        self._append(ev.RUN_FINISHED, ts, {"status": status})
        self.status = status

    def take_batch(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Drain up to ``limit`` pending events (all when None), oldest first."""
        pending = self.pending
        if limit is None or len(pending) <= limit:
            self.pending = []
            return pending
        batch = pending[:limit]
        del pending[:limit]
        return batch

    def take_index_changes(self) -> tuple[bool, list[SeqKey]]:
        """Report (and reset) whether the summary changed and which sequences are new."""
        dirty, new = self.summary_dirty, self.new_sequences
        self.summary_dirty, self.new_sequences = False, []
        return dirty, new
