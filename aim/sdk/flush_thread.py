"""FlushThread: drain the run's buffer into segment frames in the background.

It sleeps until the age deadline or a size wake-up, whichever comes first, and writes nothing
when nothing is pending. ``flush()`` is a barrier: it returns once every event tracked before
the call is in a frame on disk (a ``seq`` watermark, not a queue length). After writing it
keeps the index in step, off the hot path.
"""

from __future__ import annotations

import errno
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

from aim.core.encoding import encode_events_salvaging
from aim.core.flush_policy import FlushPolicy
from aim.core.run_state import RunState
from aim.storage.segment_writer import SegmentWriter

# A full disk (or quota) is expected to pass: events wait in memory and are retried. Any other
# write error fails the run (its events are still retried, in case the error was transient).
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


class BatchWriter:
    """Encode a batch, write it as one frame, and keep it for a retry when the write fails.

    Most batches arrive encoded (``RunState.encode_batch`` on the tracking thread); the ones
    taken on the age trigger are encoded here. ``fatal`` says why the run failed, once something
    went wrong that is not a full disk (an event that cannot be encoded, another write error, a
    bug): the flush thread hands it to ``RunState.fail``, so it is never silent.
    """

    def __init__(self, writer: SegmentWriter, before_write: Callable[[], object] | None = None) -> None:
        self.writer = writer
        # Makes durable what the frame refers to (the run's blobs): called before each write,
        # so a frame never reaches the disk ahead of a blob it names.
        self.before_write = before_write
        self.error: BaseException | None = None
        self.fatal: str | None = None
        self.unwritten = b""  # encoded events whose write failed: retried first
        self.unwritten_seq = -1
        self._warned = False

    def write(self, item: tuple[bytes | list[dict[str, Any]], int] | None) -> int:
        """Write ``item`` (from ``RunState.take_for_writer``; encoded here when it is a list)
        after anything left from a failed write; return the last seq written, or -1 when
        nothing was written."""
        data, upto = self.unwritten, self.unwritten_seq
        if item is not None:
            lines = item[0]
            if not isinstance(lines, bytes):
                lines, error = encode_events_salvaging(lines)
                if error is not None:
                    self.fatal = self.fatal or error
            data, upto = data + lines, item[1]
        if not data:
            return -1
        try:
            if self.before_write is not None:
                self.before_write()
            self.writer.write(data)
        except OSError as exc:
            self.unwritten, self.unwritten_seq = data, upto
            self.error = exc
            if exc.errno in _DISK_FULL:
                self.warn(f"cannot write run events ({exc}); they are kept in memory and retried; "
                          "once the buffer is full, new events are dropped (and counted) until a "
                          "write succeeds")
            else:
                self.fatal = self.fatal or f"cannot write events: {exc}"
                self.warn(f"{self.fatal}; the run is failed; its buffered events are retried")
            return -1
        self.unwritten = b""
        self.error = None
        return upto

    def warn(self, message: str) -> None:
        """Warn once per run: training code gets one clear warning, not a stream of them."""
        if not self._warned:
            self._warned = True
            warnings.warn(f"aim: {message}", RuntimeWarning, stacklevel=1)
            print(f"aim: warning: {message}", file=sys.stderr)


class FlushThread(threading.Thread):
    """The background writer of one run."""

    def __init__(
        self,
        state: RunState,
        cond: threading.Condition,
        writer: SegmentWriter,
        policy: FlushPolicy,
        on_written: Callable[[bool, list[Any]], None],
        name: str,
        before_write: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.state = state
        self.cond = cond
        self.out = BatchWriter(writer, before_write)
        self.policy = policy
        self.on_written = on_written
        # Events already pending (run.started/resumed) are not written yet: a flush() right
        # after Run() must wait for them too.
        self.written_seq = state.next_seq - 1 - state.buffered
        self.attempts = 0  # write attempts started (numbered under the lock)
        self.last_failed_attempt = 0
        self._stop_requested = False
        self._flush_requested = False
        self._flush_upto = -1  # barrier target: keep writing until this seq is on disk

    @property
    def error(self) -> BaseException | None:
        """The last write error, cleared by a successful write."""
        return self.out.error

    @property
    def failing(self) -> bool:
        """True while the last write attempt failed (a full disk, a read-only filesystem)."""
        return self.out.error is not None

    # --- called by the run, under ``cond`` -------------------------------------------------
    def request_stop(self) -> None:
        """Ask the thread to write what is pending and exit (caller holds ``cond``)."""
        self._stop_requested = True
        self.cond.notify_all()

    def barrier(self, target_seq: int, timeout: float | None = None) -> bool:
        """Wait (caller holds ``cond``) until ``target_seq`` is on disk; False on failure."""
        self._flush_upto = max(self._flush_upto, target_seq)
        self.cond.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        started_before = self.attempts
        while self.written_seq < target_seq:
            # Give up when the thread is gone, or when a write that started after this call
            # failed (an earlier failure gets a retry first).
            if not self.is_alive() or self.last_failed_attempt > started_before:
                return self.written_seq >= target_seq
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self.cond.wait(remaining if remaining is not None else 0.5)
        return True

    # --- the thread ------------------------------------------------------------------------
    def run(self) -> None:
        # One acquisition of the run's lock per frame: the tracking thread holds that lock in
        # every track() call, and each contended acquisition can cost this thread a whole GIL
        # switch interval (5 ms).
        cond, state, policy = self.cond, self.state, self.policy
        last = time.monotonic()
        upto = -1  # seq of the last event of the frame just written (-1: none)
        while True:
            with cond:
                if upto >= 0:
                    self.written_seq = upto
                    if not state.full:
                        state.stop_dropping()  # writes succeed again: accept new events
                    cond.notify_all()  # barrier waiters
                while True:
                    now = time.monotonic()
                    n = state.buffered
                    if self._stop_requested and not n and not self.out.unwritten:
                        cond.notify_all()
                        return
                    if (state.ready or self._stop_requested or self._flush_requested
                            or policy.due(len(state.pending), last, now)
                            or (n and self._flush_upto > self.written_seq)):
                        break
                    cond.wait(policy.wait_time(last, now) if n else policy.interval)
                # One frame holds at most a batch: under a producer that never pauses, frames
                # keep coming every batch instead of once per full buffer, which is what keeps
                # the SIGKILL loss near the flush interval.
                # While a failed write waits for its retry, nothing more is taken: the events
                # stay counted in the buffer, so its bound holds (and, full, trackers drop
                # instead of stalling) rather than growing the retry data without limit.
                item = None if self.out.unwritten else state.take_for_writer()
                self.attempts += 1
                attempt = self.attempts
                self._flush_requested = False
                index_dirty, new_seqs = state.take_index_changes()
                cond.notify_all()  # trackers waiting for room in the buffer
            last = time.monotonic()
            try:
                upto = self.out.write(item)
            except Exception as exc:  # a bug: the run fails loudly instead of the thread dying
                upto = -1
                self.out.fatal = self.out.fatal or f"the flush thread failed: {exc!r}"
            if self.out.fatal is not None and state.failure is None:
                with cond:
                    state.fail(self.out.fatal)
                    cond.notify_all()
            if upto < 0 and self.out.unwritten:
                with cond:
                    self.last_failed_attempt = attempt
                    cond.notify_all()
                    if self._stop_requested:
                        cond.notify_all()
                        return  # close() reports the error; the events stay unwritten
                    cond.wait(policy.interval)  # back off instead of spinning on a full disk
            if upto >= 0 or index_dirty or new_seqs:
                try:
                    self.on_written(index_dirty, new_seqs)
                except Exception as exc:  # the index heals itself; never kill the flusher
                    self.out.warn(f"index update failed (it will be rebuilt): {exc}")
