"""AsyncRun: the async shell over ``RunBase``, on anyio (asyncio and trio).

Same names and semantics as ``Run``; the differences are only where Python forces them:
``async with``, ``await run.track(...)``, ``await run.close()``. Nothing blocks the loop:
opening, writing, sealing and reading happen in anyio worker threads, and the background flush
is a task in the run's own task group.

``track`` appends to the buffer and returns. It suspends only when the buffer is full (real
backpressure: it waits for the flush task, without blocking the loop), and for a bare
checkpoint every 1,024 calls, so that a loop that only tracks still lets the flush task and
other tasks (a heartbeat, a data loader) run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.lowlevel

from aim.core import events as ev
from aim.core.projection import RunSummary
from aim.core.run_state import RunState
from aim.errors import RunClosedError
from aim.sdk import exit_hooks
from aim.sdk.flush_thread import BatchWriter
from aim.sdk.metrics import MetricSequence
from aim.sdk.repo import Repo
from aim.sdk.run_base import RunBase
from aim.storage.segment_writer import DEFAULT_MAX_AGE, DEFAULT_MAX_BYTES

_YIELD_EVERY = 1024


class AsyncRun(RunBase):
    """One training run, recorded from async code. See ``Run`` for the arguments.

    ``async with AsyncRun(repo=..., experiment=...) as run:`` opens it (off the loop) and
    closes it on the way out, even when the block is cancelled (the close is shielded) or
    raises (status ``failed``; ``terminated`` for a cancellation). Without ``async with``, call
    ``await run.open()`` and ``await run.close()`` in the same task: ``open()`` enters the run's
    task group, and structured concurrency (asyncio and trio alike) lets only the task that
    entered a task group leave it.
    """

    def __init__(
        self,
        run_hash: str | None = None,
        repo: Repo | str | os.PathLike[str] | None = None,
        read_only: bool = False,
        experiment: str | None = None,
        force_resume: bool = False,
        *,
        flush_interval: float = 1.0,
        max_buffered_events: int = 50_000,
        segment_max_bytes: int = DEFAULT_MAX_BYTES,
        segment_max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        self._configure(run_hash, repo, read_only, experiment, force_resume, flush_interval,
                        max_buffered_events, segment_max_bytes, segment_max_age)
        self._opened = False
        # Until open(): a frozen placeholder, so that any write says what to do.
        self.hash = run_hash  # type: ignore[assignment]
        self._state = RunState(RunSummary(hash=run_hash or ""))
        self._state.freeze("the run is not open yet: use `async with AsyncRun(...)` or `await run.open()`")
        self._track_metric = self._state.track_metric
        self._task_group: Any = None
        self._out: BatchWriter | None = None
        self._wake = anyio.Event()
        self._progress = anyio.Event()
        self._done = anyio.Event()
        self._stop = False
        self._flush_upto = -1
        self._written_seq = -1
        self._attempts = 0
        self._last_failed_attempt = 0
        self._since_yield = 0

    # --- opening -------------------------------------------------------------------------------
    async def open(self) -> AsyncRun:
        """Open the run (in a worker thread) and start its flush task; idempotent."""
        if self._opened:
            return self
        await anyio.to_thread.run_sync(self._open)
        self._opened = True
        if self.read_only:
            return self
        self._out = BatchWriter(self._writer)  # type: ignore[arg-type]
        self._written_seq = self._state.next_seq - 1 - len(self._state.pending)
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._flush_loop, name=f"aim-flush-{self.hash[:8]}")
        exit_hooks.register(self)
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
    async def track(
        self,
        value: Any,
        name: str | None = None,
        step: int | None = None,
        epoch: int | None = None,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a metric value (or a dict of them); see ``Run.track``."""
        RunBase.track(self, value, name, step, epoch, context=context)
        if len(self._state.pending) >= self._policy.max_pending:
            await self._wait_for_room()
        self._since_yield += 1
        if self._since_yield >= _YIELD_EVERY:
            self._since_yield = 0
            await anyio.lowlevel.checkpoint()

    def _buffer_full(self) -> None:
        # Called with the lock held, on the loop's thread: wake the flush task.
        self._wake.set()

    async def _wait_for_room(self) -> None:
        while len(self._state.pending) >= self._policy.max_pending and not self._done.is_set():
            self._wake.set()
            progress = self._progress
            await progress.wait()

    # --- the flush task ------------------------------------------------------------------------
    async def _flush_loop(self) -> None:
        # Shielded: when the scope around the training loop is cancelled, this task must go on
        # writing until close() stops it, or the events tracked before the cancel are lost.
        with anyio.CancelScope(shield=True):
            await self._flush_until_stopped()

    async def _flush_until_stopped(self) -> None:
        state, policy, lock = self._state, self._policy, self._lock
        last = time.monotonic()
        try:
            while True:
                n = len(state.pending)
                now = time.monotonic()
                if self._stop and not n and not self._out.unwritten:  # type: ignore[union-attr]
                    return
                if not (self._stop or policy.due(n, last, now) or n >= policy.batch_events
                        or (n and self._flush_upto > self._written_seq)):
                    wake = self._wake
                    with anyio.move_on_after(policy.wait_time(last, now) if n else policy.interval):
                        await wake.wait()
                    if wake.is_set():
                        self._wake = anyio.Event()
                    continue
                with lock:
                    batch = state.take_batch(policy.batch_events)
                    dirty, new = state.take_index_changes()
                self._attempts += 1
                attempt = self._attempts
                self._signal_progress()  # room in the buffer
                last = time.monotonic()
                upto = await anyio.to_thread.run_sync(self._write_batch, batch, dirty, new)
                if upto >= 0:
                    self._written_seq = upto
                elif self._out.unwritten:  # type: ignore[union-attr]
                    self._last_failed_attempt = attempt
                    self._signal_progress()
                    if self._stop:
                        return  # close() reports the error
                    await anyio.sleep(policy.interval)  # back off instead of spinning
                self._signal_progress()
        finally:
            self._done.set()
            self._signal_progress()

    def _write_batch(self, batch: list[dict[str, Any]], dirty: bool, new: list[Any]) -> int:
        upto = self._out.write(batch)  # type: ignore[union-attr]
        if upto >= 0 or dirty or new:
            try:
                self._on_flushed(dirty, new)
            except Exception as exc:  # the index heals itself; never kill the flush task
                self._out.warn(f"index update failed (it will be rebuilt): {exc}")  # type: ignore[union-attr]
        return upto

    def _signal_progress(self) -> None:
        progress, self._progress = self._progress, anyio.Event()
        progress.set()

    # --- barrier, read-back, close -----------------------------------------------------------
    async def flush(self) -> None:
        """Wait (without blocking the loop) until every event tracked so far is on disk."""
        if self.read_only or self._closed or self._out is None:
            return
        target = self._state.next_seq - 1
        self._flush_upto = max(self._flush_upto, target)
        started_before = self._attempts
        while self._written_seq < target:
            if self._done.is_set() or self._last_failed_attempt > started_before:
                raise RunClosedError(f"run {self.hash}: events not written ({self._out.error})")
            self._wake.set()
            await self._progress.wait()

    async def get_metric(self, name: str, context: Mapping[str, Any] | None = None) -> MetricSequence:
        """Steps, values, epochs and timestamps of one sequence (last value per step wins)."""
        self._metric_key(name, context)
        await self.flush()
        return await anyio.to_thread.run_sync(self._read_metric, name, context)

    async def close(self) -> None:
        """Finish the run: write everything, seal, update the index, unlock (shielded)."""
        await self._aclose(ev.STATUS_FINISHED)

    async def _aclose(self, status: str) -> None:
        # Shielded: a cancelled training loop still gets every tracked event written.
        try:
            with anyio.CancelScope(shield=True):
                if not self._finish(status):
                    return
                exit_hooks.unregister(self)
                self._stop = True
                self._wake.set()
                await self._done.wait()
                error = self._out.error if self._out is not None else None
                await anyio.to_thread.run_sync(self._seal, error)
        finally:
            # The task group was entered before the shield, so it is left outside it; its
            # only task has ended, so this returns at once (or re-raises a pending cancel).
            if self._task_group is not None:
                tg, self._task_group = self._task_group, None
                await tg.__aexit__(None, None, None)

    def _close_at_exit(self, status: str) -> None:
        # Interpreter exit with the run still open (no event loop any more): write what is
        # pending synchronously, then seal.
        if not self._finish(status):
            return
        out = self._out
        if out is not None:
            while self._state.pending or out.unwritten:
                with self._lock:
                    batch = self._state.take_batch(self._policy.batch_events)
                if out.write(batch) < 0:
                    break
        self._seal(out.error if out is not None else None)
