"""RunBase: what Run and AsyncRun share: opening a writer session, the hot path, capture, the
flush thread's lifecycle, and keeping the index in step (params, tags, metadata and log
records are ``run_props.RunPropsMixin``'s). The shells add only how flushing waits (a thread
or a task) and how their callers wait (blocking or awaiting)."""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from aim.core import events as ev
from aim.core.flush_policy import FlushPolicy
from aim.errors import RunClosedError, RunWriteError
from aim.sdk import capture, distributed, exit_hooks, indexer, series
from aim.sdk.flush_thread import FlushThread
from aim.sdk.fork import check_step
from aim.sdk.objects.base import AimObject
from aim.sdk.run_artifacts import RunArtifactsMixin
from aim.sdk.run_objects import RunObjectsMixin, tracked_objects
from aim.sdk.run_props import RunPropsMixin
from aim.sdk.run_read import RunReadMixin
from aim.sdk.run_sequences import RunSequencesMixin
from aim.sdk.run_session import RunSession
from aim.sdk.run_sinks import now as _now
from aim.sdk.run_sync import DEFAULT_SYNC_INTERVAL, RunSync, check_sync
from aim.sdk.store import RepoStore
from aim.storage.hashes import validate_run_hash
from aim.storage.layout import PRIMARY
from aim.storage.lock import RunLock
from aim.storage.segment_writer import SegmentWriter

if TYPE_CHECKING:
    pass

_time_ns = time.time_ns
_R = TypeVar("_R", bound="RunBase")
DEFAULT_SYSTEM_TRACKING_INTERVAL = 10.0  # seconds, as in Aim
CLOSE_CATCH_UP_BYTES = 2 << 20  # ~160k metric events: about a second here, well under elsewhere



class RunBase(RunPropsMixin, RunSession, RunSequencesMixin, RunObjectsMixin, RunArtifactsMixin,
              RunReadMixin):
    """State and behaviour shared by ``Run`` and ``AsyncRun`` (see their docstrings)."""

    def _configure(
        self,
        run_hash: str | None,
        repo: RepoStore | str | os.PathLike[str] | None,
        read_only: bool,
        experiment: str | None,
        force_resume: bool,
        flush_interval: float,
        max_buffered_events: int,
        segment_max_bytes: int,
        segment_max_age: float,
        system_tracking_interval: float | None = None,
        log_system_params: bool = False,
        capture_terminal_logs: bool = False,
        ranks: str = distributed.RANKS_ALL,
        sync: str | None = None,
        sync_interval: float = DEFAULT_SYNC_INTERVAL,
        fork_from: str | None = None,
        fork_step: int | None = None,
        rewind_to: int | None = None,
    ) -> None:
        """Check the arguments and set up in-memory state; no IO (safe on an event loop)."""
        if fork_from is not None:
            validate_run_hash(fork_from)
            if run_hash is not None or read_only or rewind_to is not None:
                raise ValueError("fork_from makes a new run: it takes no run_hash, read_only or rewind_to")
        elif fork_step is not None:
            raise ValueError("fork_step needs fork_from (the run to fork)")
        if rewind_to is not None and (run_hash is None or read_only):
            raise ValueError("rewind_to continues a run from an earlier step: it needs a run_hash, "
                             "and a writer (not read_only)")
        self._fork_from = fork_from
        self._fork_step = None if fork_step is None else check_step(fork_step)
        self._rewind_to = None if rewind_to is None else check_step(rewind_to)
        if ranks not in distributed.RANKS_CHOICES:
            raise ValueError(f"ranks must be one of {distributed.RANKS_CHOICES}, got {ranks!r}")
        if read_only and sync is not None:
            raise ValueError("sync= ships what a writer writes: a read-only run has nothing to ship")
        self._sync_to = check_sync(sync, sync_interval)
        self._sync_interval = float(sync_interval)
        self._sync: RunSync | None = None
        self._ranks = ranks
        self._inert = False
        self._job: distributed.JobWriter | None = None
        if run_hash is not None:
            validate_run_hash(run_hash)
        self._system_interval = _system_interval(system_tracking_interval)
        self._log_system_params = bool(log_system_params)
        self._capture_terminal = bool(capture_terminal_logs)
        self._capturing = False
        if experiment is not None and not isinstance(experiment, str):
            raise TypeError(f"experiment must be a str, got {type(experiment).__name__}")
        self._repo_arg = repo
        self._hash_arg = run_hash
        self._experiment_arg = experiment
        self.read_only = read_only
        # force_resume exists for Aim compatibility. Kernel locks cannot go stale, so there is
        # never a stalled lock to break; a live writer is always refused.
        self.force_resume = force_resume
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._closed = False
        self._detached = False
        self._sequences_in_index = False
        self._writer: SegmentWriter | None = None
        self._flusher: FlushThread | None = None
        self._run_lock: RunLock | None = None
        self._segment_max_bytes = segment_max_bytes
        self._segment_max_age = segment_max_age
        self._policy = FlushPolicy(
            interval=flush_interval,
            batch_events=min(20_000, max_buffered_events),
            max_pending=max_buffered_events,
        )

    # --- tracking: the hot path --------------------------------------------------------------
    def track(
        self,
        value: Any,
        name: str | None = None,
        step: int | None = None,
        epoch: int | None = None,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a metric value (or a dict ``{name: value}`` of several) at ``step``.

        With ``step=None`` the run takes the next step of this (name, context) sequence; an
        explicit step at or above that counter moves it on. Validation happens here, so a bad
        value raises now and nothing is recorded.
        """
        # The shell's share of the hot path: the clock and the lock. Validation and the
        # event itself are RunState.track's (one call: each call level costs ~0.1 us).
        ts = _time_ns() // 1_000_000 / 1000
        if type(value) is not float and type(value) is not int:
            objects = tracked_objects(value)  # an Image, a list of them...: blobs, then an event
            if objects is not None:
                self._track_objects(objects, not isinstance(value, AimObject), name, step, epoch, context, ts)
                return
        lock = self._lock
        lock.acquire()
        try:
            if self._state_track(value, name, step, epoch, context, ts):
                self._buffer_full()
        finally:
            lock.release()

    def _buffer_full(self) -> None:
        """Called with the lock held when a batch is pending: wake the flusher; when the buffer
        is ``full``, make the caller wait for room (shell-specific)."""
        raise NotImplementedError

    # --- capture: system metrics, terminal output, system params -----------------------------
    def _start_capture(self) -> None:
        """Start what this run captures by default (blocking: AsyncRun calls it off the loop)."""
        if self._log_system_params:
            from aim.integrations.system_params import SYSTEM_PARAMS_KEY, collect_system_params

            self[SYSTEM_PARAMS_KEY] = collect_system_params()
        if self._system_interval is not None or self._capture_terminal:
            capture.add_run(id(self), self._capture_sink, self._system_interval, self._capture_terminal,
                            str(self._store.layout.root))
            self._capturing = True

    def _stop_capture(self) -> None:
        if self._capturing:
            self._capturing = False
            capture.remove_run(id(self))

    def _wake_writer(self) -> None:
        """With the lock held, a batch pending: encode it here (see encode_batch), wake the flusher."""
        self._state.encode_batch()
        self._cond.notify_all()

    # --- the flush thread: both shells write through it ------------------------------------
    # The shells differ only in how a caller waits for it: Run blocks; AsyncRun hands the same
    # blocking wait to a worker thread, so the loop never blocks.
    def _start_flusher(self) -> None:
        # The thread holds the run's IndexSync, not the run: a running thread is always
        # reachable, and a reference to the run would keep it alive (see __del__).
        self._flusher = FlushThread(
            self._state, self._cond, self._writer, self._policy, self._index_sync.on_flushed,  # type: ignore[arg-type]
            name=f"aim-flush-{self.hash[:8]}", before_write=self._run_blobs().sync_pending,
        )
        self._flusher.start()
        if self._sync_to is not None and not self._inert:
            bucket, prefix = self._sync_to
            stream = self._job.stream if self._job is not None else PRIMARY
            self._sync = RunSync(self._store, bucket, prefix, self.hash, stream, self._sync_interval)
            self._sync.start()
        exit_hooks.register(self)

    def __del__(self) -> None:
        # As in Aim, a writer run whose last reference is gone is closed (finished): `del run`,
        # or `run = Run()` run again in a notebook cell, must not leave the old run locked and
        # "running" until the process exits. Nothing of aim's holds a run strongly (the flush
        # thread and the capture hold sinks, not the run; the exit hooks a weak reference).
        if self.__dict__.get("_closed", True) or self.__dict__.get("_detached", False):
            return
        if self.__dict__.get("_flusher") is None:
            return
        try:
            if threading.current_thread().name.startswith("aim-"):
                # A guard: aim's threads hold sinks, not runs, but were a run ever dropped in one
                # of them, closing there would join that very thread.
                threading.Thread(target=self._close_unreferenced, name=f"close-{self.hash[:8]}").start()
            else:
                self._close_unreferenced()
        except Exception:  # interpreter shutdown: the exit hooks have closed it already
            pass

    def _close_unreferenced(self) -> None:
        try:
            self._close_blocking(ev.STATUS_FINISHED)
        except Exception as exc:  # nobody is left to raise to: say it
            print(f"aim: run {self.hash} closed when its last reference went: {exc}", file=sys.stderr)

    def _wait_for_room_locked(self) -> None:
        """With the lock held: wait while the buffer is full and the flusher can still drain it.

        When its writes are failing (a full disk), waiting could last forever and stall the
        training loop: new events are dropped and counted instead, until a write succeeds.
        """
        flusher = self._flusher
        while self._state.full and flusher is not None and flusher.is_alive():
            if flusher.failing:
                self._state.start_dropping()
                return
            self._cond.wait(0.5)

    def _flush_blocking(self, timeout: float | None = None) -> None:
        """Block until every event tracked before this call is in a frame on disk."""
        flusher = self._flusher
        if flusher is None or self._closed:
            return
        with self._lock:
            target = self._state.next_seq - 1
            ok = flusher.barrier(target, timeout)
            failure = self._state.failure
        if failure is not None:
            raise RunWriteError(self._state.closed_reason)
        if not ok:
            raise RunClosedError(f"run {self.hash}: events not written ({flusher.error or 'timeout'})")

    def _close_blocking(self, status: str) -> None:
        """Record the end, let the flusher write everything and stop, then seal and unlock."""
        # Capture stops first: the output written up to here (a traceback, say) is recorded
        # before run.finished.
        self._stop_capture()
        if not self._finish(status):
            return
        exit_hooks.unregister(self)
        error: BaseException | None = None
        flusher = self._flusher
        if flusher is not None:
            with self._lock:
                flusher.request_stop()
            flusher.join()
            error = flusher.error
        if self._state.dropped:
            error = OSError(f"{self._state.dropped} events dropped while writes were failing"
                            + (f" ({error})" if error else ""))
        try:
            self._seal(error)
        finally:
            if self._sync is not None:  # what the close sealed goes too (Run(sync=...))
                self._sync.finish()

    def _close_at_exit(self, status: str) -> None:
        self._close_blocking(status)

    # --- lifecycle pieces --------------------------------------------------------------------
    def _finish(self, status: str) -> bool:
        """Record the end (under the lock); False when already closed or detached."""
        with self._lock:
            if self._closed or self._detached:
                return False
            self._closed = True
            self._state.finish(status, _now())
            return True

    def _seal(self, error: BaseException | None) -> None:
        """After the last write: seal the segment, update the index, unlock (blocking IO)."""
        try:
            if self._writer is not None:
                self._writer.seal()
        except OSError as exc:
            error = error or exc
        try:
            if self._state.failure is None:
                self._index_sync.write([], everything=True)
            else:
                self._write_failed_index()
        except Exception:  # the index heals itself from the log
            pass
        # No metric (or nothing kept, on an inert rank): nothing to fold. Nor for a writer of
        # a run of several streams: each closing rank would fold every rank's events, one
        # after another under the store's lock (measured: 8 writers' aggregate fell to 0.67x
        # of 8 separate runs); the first read folds them once.
        several = self._index_sync.stream is not None
        if self._state.failure is None and self._state.summary.sequences and not self._inert and not several:
            try:
                # Materialize the series while the log is in the page cache, so the first
                # read decodes nothing; past a bound, close stays quick and the first read
                # folds the log in instead (a million events take seconds to decode).
                series.catch_up(self._store.layout, self.hash, CLOSE_CATCH_UP_BYTES)
            except Exception:  # a cache: a read rebuilds it from the log
                pass
        if self._run_lock is not None:
            self._run_lock.release()
        failure = self._state.failure
        if failure is not None:
            unwritten = f"; events still unwritten at close: {error}" if error is not None else ""
            raise RunWriteError(f"run {self.hash} closed as failed: {failure}{unwritten}")
        if error is not None:
            raise RunClosedError(f"run {self.hash} closed, but some events were not written: {error}")

    def _detach_after_fork(self) -> None:
        # Runs in the child right after fork(): drop what belongs to the parent, never write.
        self._detached = True
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._state.freeze(
            f"run {self.hash} belongs to process {os.getppid()}; a forked child cannot write it"
        )
        if self._run_lock is not None:
            self._run_lock.forget()
        if self._writer is not None:
            self._writer.abandon()
        self._flusher = None
        self._sync = None  # the parent's thread ships the parent's stream
        self._capturing = False  # the child's capture starts afresh (see capture.py)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.hash} experiment={self.experiment!r} status={self.status}>"

    # --- index sync (close) -------------------------------------------------------------------
    def _write_failed_index(self) -> None:
        """The index of a run whose writer failed comes from its log, not from the writer's
        summary: events the writer lost (``event.lost``) must not be in it. When not even the
        end could be written, the row still says failed (verify reports that the log lacks it)."""
        layout = self._store.layout
        summary, _scans, size = indexer.replay_run(layout, self.hash)
        if summary.status != ev.STATUS_FAILED:
            summary.status = ev.STATUS_FAILED
            summary.end_time = self._state.summary.end_time
        indexer.write_summary(self._store.index, summary, size)


SYSTEM_INTERVAL_RANGE = (0.1, 24 * 60 * 60.0)  # seconds: Aim's bounds

def _system_interval(value: Any) -> float | None:
    """``system_tracking_interval`` as Aim reads it: None disables; a number outside 0.1 s to
    a day (0, say) warns and disables; anything else is a programming error and raises."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"system_tracking_interval must be a number of seconds, or None to disable it; got {value!r}"
        )
    low, high = SYSTEM_INTERVAL_RANGE
    if not low <= value <= high:  # NaN included
        warnings.warn(
            f"aim: system_tracking_interval={value!r} disables system tracking: set it between "
            f"{low} s and {high:.0f} s (one day) to track system usage, or None to silence this",
            UserWarning, stacklevel=4)
        return None
    return float(value)
