"""AsyncRun: the async shell over ``RunBase``, on anyio (asyncio and trio).

Same names and semantics as ``Run``; the differences are only where Python forces them:
``async with``, ``await run.track(...)``, ``await run.close()``. Nothing blocks the loop:
opening, sealing and reading happen in anyio worker threads, and the run is written by the same
flush thread as a ``Run``. Where a ``Run`` caller blocks (a full buffer, ``flush()``,
``close()``), an ``AsyncRun`` caller awaits the same blocking wait in a worker thread.

``track`` appends to the buffer and returns. It suspends only when the buffer is full (real
backpressure, without blocking the loop), and for a bare checkpoint once 10 ms have passed
since its last one, so that a loop that only tracks still lets other tasks (a heartbeat, a data
loader) run.

Why time and not a call count: a checkpoint makes the loop poll for IO, which releases the GIL
for a moment. CPython hands the GIL to a waiting thread only after it has waited a whole switch
interval (5 ms) without such a release, so a loop that polls more often than that starves the
thread that compresses and writes: measured, a checkpoint every 1,024 calls (~2 ms) held each
write back ~50 ms and cut throughput almost in half.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from functools import partial
from time import time_ns as _time_ns
from typing import Any

import anyio
import anyio.lowlevel

from aim.core import events as ev
from aim.core.projection import RunSummary
from aim.core.run_state import RunState
from aim.sdk import exit_hooks
from aim.sdk.metrics import Metric
from aim.sdk.objects.base import AimObject
from aim.sdk.run_base import DEFAULT_SYSTEM_TRACKING_INTERVAL, RunBase
from aim.sdk.run_objects import tracked_objects
from aim.sdk.run_read import LogLines, LogRecords, RunReadMixin
from aim.sdk.store import RepoStore
from aim.storage.segment_writer import DEFAULT_MAX_AGE, DEFAULT_MAX_BYTES

_CLOCK_EVERY = 256  # calls between two looks at the clock (a look costs ~60 ns)
_YIELD_INTERVAL = 0.010  # seconds between checkpoints: above CPython's GIL switch interval


class AsyncRun(RunBase):
    """One training run, recorded from async code. See ``Run`` for the arguments.

    ``async with AsyncRun(repo=..., experiment=...) as run:`` opens it (off the loop) and
    closes it on the way out, even when the block is cancelled (the close is shielded) or
    raises (status ``failed``; ``terminated`` for a cancellation). Without ``async with``, call
    ``await run.open()`` and ``await run.close()`` (from any task).
    """

    def __init__(
        self,
        run_hash: str | None = None,
        repo: RepoStore | str | os.PathLike[str] | None = None,
        read_only: bool = False,
        experiment: str | None = None,
        force_resume: bool = False,
        system_tracking_interval: float | None = DEFAULT_SYSTEM_TRACKING_INTERVAL,
        log_system_params: bool = False,
        capture_terminal_logs: bool = True,
        *,
        flush_interval: float = 1.0,
        max_buffered_events: int = 50_000,
        segment_max_bytes: int = DEFAULT_MAX_BYTES,
        segment_max_age: float = DEFAULT_MAX_AGE,
        ranks: str = "all",
        sync: str | None = None,
        sync_interval: float = 10.0,
        fork_from: str | None = None,
        fork_step: int | None = None,
        rewind_to: int | None = None,
    ) -> None:
        self._configure(run_hash, repo, read_only, experiment, force_resume, flush_interval,
                        max_buffered_events, segment_max_bytes, segment_max_age,
                        system_tracking_interval, log_system_params, capture_terminal_logs, ranks,
                        sync, sync_interval, fork_from, fork_step, rewind_to)
        self._opened = False
        # Until open(): a frozen placeholder, so that any write says what to do.
        self.hash = run_hash  # type: ignore[assignment]
        self._state = RunState(RunSummary(hash=run_hash or ""))
        self._state.freeze("the run is not open yet: use `async with AsyncRun(...)` or `await run.open()`")
        self._state_track = self._state.track
        self._room_needed = False
        self._since_yield = 0
        self._yield_at = 0.0

    # --- opening -------------------------------------------------------------------------------
    async def open(self) -> AsyncRun:
        """Open the run (in a worker thread) and start its flush thread; idempotent."""
        if self._opened:
            return self
        await anyio.to_thread.run_sync(self._open)
        self._opened = True
        if not self.read_only:
            self._start_flusher()
            await anyio.to_thread.run_sync(self._start_capture)
        return self

    async def __aenter__(self) -> AsyncRun:
        return await self.open()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self.read_only:
            return
        status = exit_hooks.status_for_exception(exc)
        if exc is not None and isinstance(exc, anyio.get_cancelled_exc_class()):
            status = ev.STATUS_TERMINATED
        await self._aclose(status)

    # --- tracking ------------------------------------------------------------------------------
    # The async shell's track is a coroutine by design (the same name, awaited): the override
    # of RunBase's sync track is the point of this class.
    async def track(  # type: ignore[override]
        self,
        value: Any,
        name: str | None = None,
        step: int | None = None,
        epoch: int | None = None,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a metric value (or a dict of them); see ``Run.track``.

        Cancellation is exact, as trio's convention asks: a ``track`` that raises ``Cancelled``
        recorded nothing, and one that returns recorded its value. The only wait that can be
        cancelled (for room in a full buffer) comes before the value is recorded.
        """
        if self._room_needed:
            await self._wait_for_room()
        # RunBase.track's body, inlined: a call level costs ~0.2 us, a sixth of the whole call.
        ts = _time_ns() // 1_000_000 / 1000
        if type(value) is not float and type(value) is not int:
            objects = tracked_objects(value)
            if objects is not None:
                # Writing blobs is file IO: in a worker thread, so the loop never blocks. Not
                # cancellable once started (a cancelled track must have recorded nothing, and a
                # thread cannot be stopped halfway): the caller's next await delivers it.
                await anyio.to_thread.run_sync(partial(
                    self._track_objects, objects, not isinstance(value, AimObject), name, step, epoch,
                    context, ts), abandon_on_cancel=False)
                return
        lock = self._lock
        lock.acquire()
        try:
            if self._state_track(value, name, step, epoch, context, ts):
                self._buffer_full()
        finally:
            lock.release()
        # Nothing cancellable from here on: the value is recorded.
        self._since_yield += 1
        if self._since_yield >= _CLOCK_EVERY:
            self._since_yield = 0
            now = time.monotonic()
            if now >= self._yield_at:
                self._yield_at = now + _YIELD_INTERVAL
                # Shielded: the value is recorded by now, and a cancellation raised here would
                # tell the caller it was not. The caller's next await delivers it.
                await anyio.lowlevel.cancel_shielded_checkpoint()

    def _buffer_full(self) -> None:
        # Called with the lock held, on the loop's thread, a batch pending: encode it here (see
        # RunState.encode_batch) and wake the flusher. No waiting under the lock: the next
        # track() waits for room before it records (so a buffer holds at most max_pending plus
        # one call's events per task).
        self._wake_writer()
        if self._state.full:
            self._room_needed = True

    async def _wait_for_room(self) -> None:
        # Cancellable (a stuck disk must not make the loop uncancellable), and nothing is
        # recorded yet; abandoned on cancel: the thread's wait ends once there is room.
        await anyio.to_thread.run_sync(self._wait_for_room_blocking, abandon_on_cancel=True)
        self._room_needed = False

    def _wait_for_room_blocking(self) -> None:
        with self._lock:
            self._wait_for_room_locked()

    # --- barrier, read-back, close -----------------------------------------------------------
    async def flush(self) -> None:
        """Wait (without blocking the loop) until every event tracked so far is on disk."""
        if self._flusher is None or self._closed:
            return
        await anyio.to_thread.run_sync(self._flush_blocking, abandon_on_cancel=True)

    async def get_terminal_logs(self) -> LogLines | None:  # type: ignore[override]
        """The captured terminal output (see ``Run.get_terminal_logs``), read in a worker thread."""
        return await anyio.to_thread.run_sync(partial(RunReadMixin.get_terminal_logs, self))

    async def get_log_records(self) -> LogRecords | None:  # type: ignore[override]
        """The log records (see ``Run.get_log_records``), read in a worker thread."""
        return await anyio.to_thread.run_sync(partial(RunReadMixin.get_log_records, self))

    async def dataframe(self, include_props: bool = True,
                        include_params: bool = True) -> Any:
        """The run as a one-row pandas DataFrame (see ``Run.dataframe``), in a worker thread."""
        return await anyio.to_thread.run_sync(
            partial(RunReadMixin.dataframe, self, include_props, include_params))

    async def get_metric(self, name: str, context: Mapping[str, Any] | None = None) -> Metric | None:
        """One sequence as a ``Metric``, or None when there is none (see ``Run.get_metric``)."""
        if not self.read_only:
            context = self._state.recorded_context(name, context)
        if self._metric_key(name, context) is None:
            return None
        await self.flush()
        return await anyio.to_thread.run_sync(self._read_metric, name, context)

    async def close(self) -> None:
        """Finish the run: write everything, seal, update the index, unlock (shielded)."""
        await self._aclose(ev.STATUS_FINISHED)

    async def _aclose(self, status: str) -> None:
        # Shielded: a cancelled training loop still gets every tracked event written.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._close_blocking, status)
