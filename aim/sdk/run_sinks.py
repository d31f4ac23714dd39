"""What aim's background threads hold of a writer run: never the run itself.

The flush thread keeps the index in step through an ``IndexSync``; the capture hub records
system samples and terminal lines through a ``CaptureSink``. Both hold the run's state, its lock
and what they write to, and not the ``Run`` object: a run whose last reference is gone is then
closed at once by ``RunBase.__del__``, in the thread that dropped it, instead of whenever a
background thread happens to let go of a temporary reference (which made ``del run`` followed by
``Run(run_hash=...)`` race).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson

from aim.core import events as ev
from aim.core.params import leaf_keys
from aim.core.projection import SeqKey
from aim.core.run_state import DROPPING, RunState
from aim.sdk import indexer
from aim.storage.index import Index
from aim.storage.segment_writer import SegmentWriter

_ACCEPTING = frozenset({ev.STATUS_RUNNING, DROPPING})  # capture records (dropping counts them)
_FULL_REFRESH = 5.0  # seconds between full rewrites of a live run's sequence rows


def now() -> float:
    """An event timestamp: Unix seconds with millisecond precision."""
    # Milliseconds are enough for a training log, and consecutive events then share most
    # digits, which keeps metric events near 12 bytes each on disk. Integer division then one
    # true division gives the shortest repr (1764134400.123) and costs less than round().
    return time.time_ns() // 1_000_000 / 1000


class IndexSync:
    """Writes a live run's rows: new sequences and summary changes at once, every sequence's
    statistics every few seconds and at close."""

    def __init__(self, state: RunState, lock: threading.Lock, index: Index | None,
                 writer: SegmentWriter | None, log_size: int, stream: str | None = None) -> None:
        """``index`` None: a writer that keeps nothing (``Run(ranks="zero")`` on rank k) has no
        rows to write."""
        self.state, self.lock, self.index, self.writer = state, lock, index, writer
        self.log_size = log_size  # bytes of the log (this stream's) before this writer session
        self.last_full = 0.0
        # The writer's stream in a multi-writer run: its rows are merged with the other
        # streams' (Index.write_stream) instead of being the run's.
        self.stream = stream

    def on_flushed(self, dirty: bool, new: list[SeqKey]) -> None:
        """Called by the flush thread after each write."""
        refresh = time.monotonic() - self.last_full >= _FULL_REFRESH
        if dirty or new or refresh:
            self.write(new, everything=refresh)

    def write(self, new: list[SeqKey], everything: bool) -> None:
        """Write the run row, the rows of ``new`` sequences (all when ``everything``), params."""
        if self.index is None:
            return
        state = self.state
        with self.lock:
            keys = list(state.sequences) if everything else new
            written = self.writer.bytes_written if self.writer is not None else 0
            row = indexer.run_row(state.summary, self.log_size + written)
            seq_rows = [indexer.sequence_row(k, state.sequences[k]) for k in keys]
            params = leaf_keys(state.summary.params)
            objects = indexer.object_rows(state.summary)
        if everything:
            self.last_full = time.monotonic()
        if self.stream is None:
            self.index.write_run(row, seq_rows, params, objects=objects)
        else:
            h = state.summary.hash
            self.index.write_stream(h, self.stream, orjson.dumps(row).decode(), seq_rows, objects,
                                    lambda rows: indexer.merge_stream_rows(h, rows))


class CaptureSink:
    """Appends captured samples and lines to a run's buffer; never waits for room."""

    def __init__(self, state: RunState, lock: threading.Lock, cond: threading.Condition) -> None:
        self.state, self.lock, self.cond = state, lock, cond
        # In a job of several processes: what names the node in system metrics' contexts, and
        # the rank in terminal lines (docs/distributed.md).
        self.system_context: dict[str, Any] = {}
        self.line_fields: dict[str, Any] = {}

    def record_samples(self, samples: list[tuple[str, dict[str, Any], float]]) -> None:
        """System metrics from the sampler thread, tracked as metrics."""
        ts = now()
        with self.lock:
            state = self.state
            if state.status not in _ACCEPTING:
                return
            signalled = False
            extra = self.system_context
            for name, context, value in samples:
                if extra:
                    context = {**extra, **context}
                signalled = state.track(value, name, None, None, context, ts) or signalled
            if signalled:
                self._wake_writer()

    def record_log_line(self, stream: str, line: str, partial: bool) -> None:
        """A captured terminal line (see core/terminal_lines.py)."""
        payload: dict[str, Any] = {"stream": stream, "line": line, **self.line_fields}
        if partial:
            payload["partial"] = True
        with self.lock:
            if self.state.status in _ACCEPTING and self.state.record(ev.LOG_LINE, now(), payload):
                self._wake_writer()

    def _wake_writer(self) -> None:
        # As RunBase._wake_writer: encode the pending batch here, wake the flusher.
        self.state.encode_batch()
        self.cond.notify_all()
