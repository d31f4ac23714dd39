"""RunState: the writer's in-memory state, driven like a sans-IO protocol object.

The shell calls ``track``/``record`` with values and a timestamp it read itself, and drains
``take_for_writer()`` to get the events to write. Nothing here touches files, threads or
clocks; the shell holds its lock around every call.

Lifecycle, as a table: a writer session is ``running`` until ``finish`` moves it to one of
``END_STATUSES``; after that every write raises ``RunClosedError``. When the writer fails
(an event that cannot be encoded, a write error other than a full disk), ``fail`` moves it to
``failing``: every later write raises ``RunWriteError`` naming the cause, and ``finish``
records ``failed`` whatever status the shell asked for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import orjson

from aim.core import events as ev
from aim.core.encoding import context_key, decode_event, encode_event, encode_events_salvaging
from aim.core.flush_policy import FlushPolicy
from aim.core.projection import (
    LAST_VALUE,
    NEXT_STEP,
    OBJ_KIND,
    OBJ_NEXT_STEP,
    POINTS,
    RunSummary,
    SeqKey,
    apply,
    new_sequence_entry,
)
from aim.core.values import check_index, check_name, metric_value, nonfinite_to_str
from aim.errors import MetricValueError, RunClosedError, RunWriteError

SYSTEM_PREFIX = "__system__"  # the names of captured system metrics (integrations/system_metrics)
DROPPING = "dropping"  # running, but the buffer is full and writes fail: new events are dropped
FAILING = "failing"  # the writer failed for good: new events are refused, the end is "failed"

TRANSITIONS: dict[str, frozenset[str]] = {
    ev.STATUS_RUNNING: ev.END_STATUSES,
    DROPPING: ev.END_STATUSES,
    FAILING: ev.END_STATUSES,
    ev.STATUS_FINISHED: frozenset(),
    ev.STATUS_FAILED: frozenset(),
    ev.STATUS_TERMINATED: frozenset(),
    "frozen": frozenset(),
}

FRAGMENT = 4  # writer-only slot after projection's [next_step, points, last_value, context]

_CACHE_LIMIT = 4096


def _items(context: Any) -> tuple[tuple[str, str], ...] | bool:
    """The context's items when they are all str (cacheable); False otherwise."""
    try:
        items = tuple(context.items())
    except (AttributeError, TypeError):
        return False
    if type(context) is not dict or not all(type(k) is str and type(v) is str for k, v in items):
        return False
    return items


# Samples that never change a run's summary: not worth a round trip through the projection.
_SAMPLE_TYPES = frozenset({ev.METRIC, ev.LOG_LINE, ev.LOG_RECORD})


class RunState:
    """Sequence numbers, step counters, the pending buffer and the run's summary."""

    def __init__(self, summary: RunSummary, policy: FlushPolicy | None = None) -> None:
        self.summary = summary
        self.policy = policy or FlushPolicy()
        # track/record return True once this many are pending: the shell then calls
        # encode_batch and wakes its writer.
        self.wake_at = self.policy.batch_events
        self.next_seq = summary.last_seq + 1
        self.sequences = summary.sequences
        self.status = ev.STATUS_RUNNING
        self.closed_reason = "run is closed; reopen it with Run(run_hash=...) to write more"
        self.dropped = 0  # events refused while DROPPING
        self.failure: str | None = None  # why the writer failed (FAILING), first cause only
        self.pending: list[dict[str, Any]] = []
        # Encoded batches waiting for the writer, oldest first: (JSON lines, last seq, count).
        self.ready: deque[tuple[bytes, int, int]] = deque()
        self.ready_events = 0
        # Each writer-side entry carries its context pre-serialized (index FRAGMENT): the
        # flusher embeds it as-is, and a user mutating their context dict after track()
        # cannot change an event already tracked.
        for key, entry in summary.sequences.items():
            entry.append(orjson.Fragment(key[1]))
        self.new_sequences: list[SeqKey] = []
        self.summary_dirty = True
        # Sequence lookup caches, for contexts made of str keys and str values only: they
        # compare with ==, and 1 == 1.0 == True would merge sequences whose JSON differs.
        # name -> (the context of its last call, its entry): one dict compare per call.
        self._last_context: dict[str, tuple[dict[str, str] | None, list[Any]]] = {}
        # (name, context items) -> key: for a name tracked under several contexts in turn.
        self._known: dict[tuple[Any, Any], SeqKey] = {}
        # Keys a writer adds to every context it records (rank k of a job: {"rank": k}), unless
        # the caller's context has them; system metrics (SYSTEM_PREFIX) name their node instead.
        # Applied where a (name, context) becomes a sequence key, so the hot path never sees it.
        self.extra_context: dict[str, Any] = {}

    def recorded_context(self, name: str, context: Any) -> Any:
        """The context a (name, context) is recorded under: the caller's plus ``extra_context``."""
        if not self.extra_context or name.startswith(SYSTEM_PREFIX):
            return context
        if context is not None and not isinstance(context, Mapping):
            return context  # not a context: context_key says what is wrong with it
        return {**self.extra_context, **(context or {})}

    def _not_running(self, count: int = 1) -> bool:
        # Off the hot path: a closed or frozen session refuses; a dropping one counts.
        if self.status == DROPPING:
            self.dropped += count
            return False
        if self.status == FAILING:
            raise RunWriteError(self.closed_reason)
        raise RunClosedError(self.closed_reason)

    def fail(self, cause: str) -> None:
        """The writer failed (``cause`` says how): refuse every later write with that cause,
        and make the end ``failed``. Only the first cause is kept: it explains the rest."""
        if self.failure is None:
            self.failure = cause
        if self.status in (ev.STATUS_RUNNING, DROPPING):
            self.status = FAILING
            self.closed_reason = (
                f"run {self.summary.hash} failed: {cause}; the events tracked before it are on "
                "disk, and the run is recorded as failed"
            )

    def start_dropping(self) -> None:
        """The buffer is full and the writer keeps failing (a full disk): drop new events,
        counted in ``dropped``, instead of stalling the training loop. Nothing already
        buffered is dropped, and ``seq`` and steps stay contiguous."""
        if self.status == ev.STATUS_RUNNING:
            self.status = DROPPING

    def stop_dropping(self) -> None:
        """Writes succeed again and there is room: accept events again."""
        if self.status == DROPPING:
            self.status = ev.STATUS_RUNNING

    def track(
        self,
        value: Any,
        name: Any,
        step: Any,
        epoch: Any,
        context: Any,
        ts: float,
    ) -> bool:
        """Validate and append one metric event (or several, when ``value`` is a dict).

        Returns True when the shell must act: wake its flusher (a batch is pending), or wait
        for room (``full``). A bad value, name, step, epoch or context raises and records
        nothing.
        """
        # The hot path: every line costs on each of millions of calls. The common case (float
        # value, str name, int or no step, the same context as this name's last call) takes
        # the first branch of each test; everything else goes to a helper.
        if self.status != ev.STATUS_RUNNING:
            return self._not_running()
        if type(value) is float:
            if value - value:  # only NaN and ±inf are not equal to themselves minus themselves
                value = nonfinite_to_str(value)
        elif isinstance(value, dict):
            return self.track_many(value, name, step, epoch, context, ts)
        else:
            value = metric_value(value, name)
        if step is not None and (type(step) is not int or step < 0):
            step = check_index(step, "step")
        if epoch is not None and type(epoch) is not int:
            epoch = check_index(epoch, "epoch")
        try:
            hit = self._last_context.get(name)
        except TypeError:  # an unhashable name: the slow path says what is wrong with it
            hit = None
        entry = hit[1] if hit is not None and hit[0] == context else self._sequence_for(name, context)
        # Same step rule as projection.apply_metric, inlined.
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
        return len(pending) >= self.wake_at

    def track_many(
        self, values: dict[Any, Any], name: Any, step: Any, epoch: Any, context: Any, ts: float
    ) -> bool:
        """``track({"loss": l, "acc": a}, ...)``: all of them, or (on a bad entry) none."""
        if self.status != ev.STATUS_RUNNING:
            return self._not_running(len(values))
        if name is not None:
            raise MetricValueError("track(dict, ...) takes its names from the dict; drop name=")
        # Validate everything first: one bad entry records none of them. (track() converts
        # each value again: it takes the caller's values, not stored forms like "NaN".)
        checked = list(values.items())
        for k, v in checked:
            metric_value(v, check_name(k))
        if step is not None:
            step = check_index(step, "step")
        if epoch is not None:
            epoch = check_index(epoch, "epoch")
        context_key(context)
        act = False
        for k, v in checked:
            act = self.track(v, k, step, epoch, context, ts) or act
        return act

    def _sequence_for(self, name: Any, context: Any) -> list[Any]:
        """Validate a (name, context) pair and find or create its sequence (the slow path)."""
        items = None if context is None else _items(context)
        try:
            key = self._known.get((name, items)) if items is not False else None
        except TypeError:  # an unhashable name
            key = None
        if key is None:
            check_name(name)
            key = (name, context_key(self.recorded_context(name, context)))
            if items is not False:  # (check_name passed: the name is a str, so hashable)
                if len(self._known) >= _CACHE_LIMIT:  # contexts built from ever-changing values
                    self._known.clear()
                self._known[(name, items)] = key
        entry = self.sequences.get(key)
        if entry is None:
            if key in self.summary.objects:
                raise MetricValueError(f"{name!r} with context {key[1].decode()} holds "
                                       f"{self.summary.objects[key][OBJ_KIND]} objects: it cannot hold metrics")
            entry = self._new_sequence(key)
        if items is not False:
            # A copy: the caller may mutate their dict after this call.
            self._last_context[name] = (None if context is None else dict(context), entry)
        return entry

    def check_objects(self, kind: str, name: Any, step: Any, epoch: Any, context: Any
                      ) -> tuple[SeqKey, int, int | None] | None:
        """Validate one step of an object sequence before its blobs are written: the key, the
        step (the sequence's next when None) and the epoch; None when the event would be
        dropped (a full disk: counted, and no blob should be written). A (name, context) that
        is a metric sequence, or an object sequence of another kind, is refused
        (``MetricValueError``)."""
        if self.status != ev.STATUS_RUNNING:
            self._not_running()  # raises, unless dropping (counted)
            return None
        key = (check_name(name), context_key(self.recorded_context(name, context)))
        if key in self.sequences:
            raise MetricValueError(f"{name!r} with context {key[1].decode()} is a metric sequence: "
                                   f"it cannot hold {kind} objects")
        entry = self.summary.objects.get(key)
        if entry is not None and entry[OBJ_KIND] != kind:
            raise MetricValueError(f"{name!r} with context {key[1].decode()} holds {entry[OBJ_KIND]} "
                                   f"objects, not {kind}")
        step = (entry[OBJ_NEXT_STEP] if entry is not None else 0) if step is None else check_index(step, "step")
        return key, step, None if epoch is None else check_index(epoch, "epoch")

    def track_objects(self, kind: str, items: list[dict[str, Any]], is_list: bool, name: Any,
                      step: Any, epoch: Any, context: Any, ts: float) -> bool:
        """Record one step of an object sequence: ``items`` are the objects' blob references
        and metadata (the shell wrote the blobs first). True when the shell must act."""
        checked = self.check_objects(kind, name, step, epoch, context)
        if checked is None:
            return False
        key, step, epoch = checked
        payload: dict[str, Any] = {"kind": kind, "name": key[0], "context": orjson.Fragment(key[1]),
                                   "step": step, "items": items}
        if epoch is not None:
            payload["epoch"] = epoch
        if is_list:
            payload["list"] = True
        return self._append(ev.OBJECT, ts, payload) >= self.wake_at

    @property
    def buffered(self) -> int:
        """Events not yet handed to the writer: pending ones and encoded ones."""
        return len(self.pending) + self.ready_events

    @property
    def full(self) -> bool:
        """True when ``max_pending`` events wait to be written: trackers must wait for room."""
        return len(self.pending) + self.ready_events >= self.policy.max_pending

    def _new_sequence(self, key: SeqKey) -> list[Any]:
        # The canonical (sorted, copied) form, not the caller's dict, which they may mutate.
        entry = self.sequences[key] = new_sequence_entry(orjson.loads(key[1]))
        entry.append(orjson.Fragment(key[1]))
        self.new_sequences.append(key)
        return entry

    def record(self, etype: str, ts: float, payload: dict[str, Any] | None = None) -> bool:
        """Append a non-metric event and fold it into the summary; True when the shell must act
        (as for ``track``)."""
        if self.status != ev.STATUS_RUNNING:
            return self._not_running()
        return self._append(etype, ts, payload) >= self.wake_at

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
        payload: dict[str, Any] = {"status": status}
        if self.status == FAILING:
            status = payload["status"] = ev.STATUS_FAILED
            payload["error"] = self.failure
        self._append(ev.RUN_FINISHED, ts, payload)
        self.status = status

    def encode_batch(self) -> None:
        """Encode the oldest pending batch into JSON lines, ready for the writer.

        The shell calls this where ``track`` told it to, on the thread that built the events:
        serializing there, instead of in the writer thread, avoids a fight over the GIL with
        the training loop (measured: about 1.4x the throughput of a writer that encodes).
        """
        batch = self.take_batch(self.policy.batch_events)
        if batch:
            data, error = encode_events_salvaging(batch)
            if error is not None:
                self.fail(error)
            self.ready.append((data, batch[-1]["seq"], len(batch)))
            self.ready_events += len(batch)

    def take_for_writer(self) -> tuple[bytes | list[dict[str, Any]], int] | None:
        """The next frame's worth for the writer, oldest first: ``(data, last seq)``.

        ``data`` is encoded bytes when ``encode_batch`` got there first, else a batch of pending
        events for the writer to encode outside the shell's lock; None when nothing waits.
        """
        if self.ready:
            data, upto, count = self.ready.popleft()
            self.ready_events -= count
            return data, upto
        batch = self.take_batch(self.policy.batch_events)
        return (batch, batch[-1]["seq"]) if batch else None

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


class ReadOnlyState:
    """The state of a run opened read-only: its summary, and every write refused with
    ``closed_reason``. A tenth of a ``RunState``'s cost to make, which counts when
    ``Repo.iter_runs`` makes one per run of a large repository."""

    __slots__ = ("_reason", "summary")
    status = "frozen"
    failure = None
    dropped = 0

    def __init__(self, summary: RunSummary, closed_reason: str | None = None) -> None:
        self.summary = summary
        self._reason = closed_reason

    @property
    def closed_reason(self) -> str:
        """Why writes are refused (made on first use: most read-only runs are never written)."""
        if self._reason is None:
            return f"run {self.summary.hash} is open read-only; open it with Run(run_hash=...) to write"
        return self._reason

    @property
    def sequences(self) -> dict[SeqKey, list[Any]]:
        """The summary's sequence entries."""
        return self.summary.sequences

    def track(self, *_: Any) -> bool:
        """Refuse: the run is read-only."""
        raise RunClosedError(self.closed_reason)

    def record(self, *_: Any) -> bool:
        """Refuse: the run is read-only."""
        raise RunClosedError(self.closed_reason)

    def check_objects(self, *_: Any) -> None:
        """Refuse: the run is read-only (before any blob is written)."""
        raise RunClosedError(self.closed_reason)

    def finish(self, *_: Any) -> None:
        """Refuse: the run is read-only."""
        raise RunClosedError(self.closed_reason)

    def freeze(self, reason: str) -> None:
        """Keep refusing, with ``reason``."""
        self._reason = reason
