"""Run: the sync shell over ``RunBase``: its callers block (on a full buffer, a flush, close)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aim.core import events as ev
from aim.sdk import exit_hooks
from aim.sdk.metrics import Metric
from aim.sdk.run_base import DEFAULT_SYSTEM_TRACKING_INTERVAL, RunBase
from aim.sdk.store import RepoStore
from aim.storage.segment_writer import DEFAULT_MAX_AGE, DEFAULT_MAX_BYTES


class Run(RunBase):
    """One training run: params, metrics, tags and metadata, recorded as an event log.

    ``Run()`` starts a new run in the default repository; ``Run(run_hash=h)`` continues run
    ``h`` (its steps and ``seq`` carry on); ``read_only=True`` opens without the writer lock.
    A writer run is closed by ``close()``, by leaving ``with Run() as run:``, or at interpreter
    exit (status ``finished``, ``failed`` after an uncaught exception, ``terminated`` after
    SIGINT/SIGTERM).

    Captured by default, as in Aim: system usage every ``system_tracking_interval`` seconds
    (CPU, memory, disk, network and disk IO; GPUs through NVML when present) as ``__system__*``
    metrics, ``None`` to disable; the process's terminal output (``capture_terminal_logs``) as
    ``log.line`` events; with ``log_system_params=True``, the command line, environment
    (secrets redacted), packages and git state under the param ``__system_params``.

    Keyword-only tuning: ``flush_interval`` (seconds between background flushes, default 1),
    ``max_buffered_events`` (``track`` waits when this many events are not yet written),
    ``segment_max_bytes`` and ``segment_max_age`` (rotation: a live run keeps sealing segments).

    In a job of several processes (``torchrun``, Slurm, ``mpirun``: docs/distributed.md), each
    rank's ``Run()`` joins one run, found from the job's id (``AIM_RUN_HASH`` or ``run_hash=``
    wins): rank 0 writes the run's primary stream, rank k a stream of its own, and metrics
    carry ``{"rank": k}`` in their context. ``ranks="zero"`` records from rank 0 only (the
    other ranks' runs check values and keep nothing). ``sync="s3://bucket/prefix"`` ships this
    writer's sealed segments there every ``sync_interval`` seconds and at close, off the
    training thread (endpoint: ``$AIM_S3_ENDPOINT_URL``).

    ``Run(fork_from=h, fork_step=N)`` starts a new run whose history up to step N (of every
    sequence, with params, tags and experiment) is run h's, without copying h's sealed
    segments; ``Run(run_hash=h, rewind_to=N)`` continues h from step N: what came after stays
    in the log but leaves the run's current history (docs/fork.md).
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
        self._open()
        if not read_only:
            self._start_flusher()
            self._start_capture()

    def _buffer_full(self) -> None:
        # Called with the lock held, a batch pending: encode it here (see encode_batch), wake
        # the flusher, and past the bound wait for room.
        self._wake_writer()
        self._wait_for_room_locked()

    def get_metric(self, name: str, context: Mapping[str, Any] | None = None) -> Metric | None:
        """One sequence as a ``Metric`` (steps, and values, epochs and timestamps as Aim's array
        views; last value per step wins), or None when the run has no such sequence (as in
        Aim). ``context`` is a dict or a ``Context``; rank k of a job reads its own sequence
        (its ``{"rank": k}`` added, as ``track`` adds it)."""
        if not self.read_only:
            context = self._state.recorded_context(name, context)
        if self._metric_key(name, context) is None:
            return None
        if not self.read_only and not self._closed:
            self.flush()
        return self._read_metric(name, context)

    def flush(self, timeout: float | None = None) -> None:
        """Block until every event tracked before this call is in a frame on disk."""
        self._flush_blocking(timeout)

    def close(self) -> None:
        """Finish the run: write everything, seal the segment, update the index, unlock."""
        self._close_blocking(ev.STATUS_FINISHED)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if not self.read_only:
            self._close_blocking(exit_hooks.status_for_exception(exc))
