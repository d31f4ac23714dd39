"""How a run object opens (``RunSession``, a part of ``RunBase``): read-only from the index or
the log; as a new run; resuming a run by hash; or, in a job of several processes (and for
``AIM_RUN_HASH``), joining the job's run as the writer of this process's stream, created by
whichever rank comes first (docs/distributed.md). Blocking IO: ``AsyncRun`` calls it in a
worker thread."""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

from aim.core import events as ev
from aim.core.flush_policy import FlushPolicy
from aim.core.history import Marker
from aim.core.projection import RunSummary
from aim.core.run_state import RunState
from aim.errors import RunClosedError, RunNotFoundError
from aim.sdk import distributed, indexer
from aim.sdk.fork import fork_run
from aim.sdk.log import run_history
from aim.sdk.run_sequences import read_only_state
from aim.sdk.run_sinks import CaptureSink, IndexSync
from aim.sdk.run_sinks import now as _now
from aim.sdk.store import RepoStore, resolve_store
from aim.storage.hashes import new_run_hash
from aim.storage.layout import PRIMARY
from aim.storage.lock import RunLock, create_locked
from aim.storage.repair import repair_scans
from aim.storage.segment_writer import NullWriter, SegmentWriter


class RunSession:
    """Opening a run: what ``RunBase._configure`` prepared becomes a lock, a state, a writer
    and the sinks the background threads hold."""

    hash: str
    read_only: bool
    _store: RepoStore
    _repo_arg: Any
    _hash_arg: str | None
    _experiment_arg: str | None
    _ranks: str
    _inert: bool
    _fork_from: str | None
    _fork_step: int | None
    _rewind_to: int | None
    _job: distributed.JobWriter | None
    _closed: bool
    _lock: threading.Lock
    _cond: threading.Condition
    _policy: FlushPolicy
    _state: RunState
    _state_track: Any
    _writer: SegmentWriter | None
    _run_lock: RunLock | None
    _segment_max_bytes: int
    _segment_max_age: float
    _index_sync: IndexSync
    _capture_sink: CaptureSink
    _system_interval: float | None
    _capture_terminal: bool

    def _open(self) -> None:
        """Open the run (blocking IO): resolve the repo, take the lock, replay or create."""
        run_hash, read_only, experiment = self._hash_arg, self.read_only, self._experiment_arg
        self._store = resolve_store(self._repo_arg, create=not read_only)
        layout = self._store.layout
        if read_only:
            if run_hash is None:
                raise ValueError("read_only=True needs a run_hash")
            self.hash = run_hash
            self._require_run_dir()
            # From the index rows when they are current (no log read: opening a million-event
            # run costs a row lookup and a stat per segment), else a replay of the log.
            summary = indexer.indexed_summary(self._store.index, layout, run_hash)
            if summary is None:
                summary = indexer.replay_run(layout, run_hash)[0]
            self._state = read_only_state(summary)
            self._state_track = self._state.track
            self._closed = True
            return
        if self._fork_from is not None:
            if distributed.job_from_env() is not None:
                raise ValueError("fork_from in a job of several processes would make a fork per rank: "
                                 "fork once (aim runs fork), then give every rank AIM_RUN_HASH=<fork>")
            run_hash, job = None, None
        else:
            run_hash, job = distributed.resolve(run_hash, self._ranks)
        self._job = job
        if job is not None and self._rewind_to is not None:
            raise ValueError("rewind_to rewinds a whole run: do it from one process, then train")
        if job is not None and self._ranks == distributed.RANKS_ZERO and job.rank != 0:
            self._open_inert(run_hash)
            return
        now = _now()
        log_size = 0
        if self._fork_from is not None:
            log_size = self._open_fork()
        elif run_hash is None:
            self.hash = new_run_hash()
            self._run_lock = create_locked(layout.run_dir(self.hash),
                                           layout.tmp / f"{self.hash}.{os.getpid()}")
            self._state = RunState(RunSummary(hash=self.hash), self._policy)
            self._state.record(
                ev.RUN_STARTED,
                now,
                {
                    "hash": self.hash,
                    "experiment": experiment or "default",
                    "name": None,
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "format": ev.FORMAT_VERSION,
                },
            )
        else:
            # A job's rank (or AIM_RUN_HASH) joins the run, creating it when no rank has yet;
            # an explicit run_hash continues a run that exists.
            create = job is not None or self._hash_arg is None
            if not create:
                self.hash = run_hash
                self._require_run_dir()
            log_size = self._attach(run_hash, job, now, create)
        stream = job.stream if job is not None else PRIMARY
        several = job is not None or len(layout.stream_ids(self.hash)) > 1
        if job is not None and self._ranks == distributed.RANKS_ALL:
            self._state.extra_context = {"rank": job.rank}
        self._state_track = self._state.track
        self._writer = SegmentWriter(
            layout.events_dir(self.hash, stream), max_bytes=self._segment_max_bytes,
            max_age=self._segment_max_age,
        )
        # What the background threads hold instead of the run (see run_sinks.py).
        self._index_sync = IndexSync(self._state, self._lock, self._store.index, self._writer,
                                     log_size, stream if several else None)
        self._capture_sink = CaptureSink(self._state, self._lock, self._cond)
        if several:
            # The stream's row goes in now, not at the first flush: a run another rank finishes
            # meanwhile must not read as finished while this writer lives.
            self._index_sync.write([], everything=True)
        if job is not None:
            self._capture_sink.system_context = {"node": job.node}
            self._capture_sink.line_fields = {"rank": job.rank}
            if not job.captures_system:
                self._system_interval = None  # the node's local rank 0 samples it

    def _attach(self, run_hash: str, job: distributed.JobWriter | None, now: float, create: bool) -> int:
        """Write run ``run_hash`` as the writer of this process's stream (the primary outside a
        job): resume the stream, or start it; with ``create``, create the run when no rank has
        yet. Return the stream's log size."""
        layout = self._store.layout
        stream = job.stream if job is not None else PRIMARY
        self.hash = run_hash
        if not create:
            self._take_lock(stream)
        else:
            lock_name = str(layout.lock_file(run_hash, stream).relative_to(layout.run_dir(run_hash)))
            try:
                self._run_lock = create_locked(layout.run_dir(run_hash),
                                               layout.tmp / f"{run_hash}.{os.getpid()}", lock_name)
            except FileExistsError:  # another rank (or an earlier run of the job) created it
                layout.stream_dir(run_hash, stream).mkdir(parents=True, exist_ok=True)
                self._take_lock(stream)
        marker = None
        try:
            summary, scans = indexer.replay_stream(layout, run_hash, stream)
            if summary.last_seq < 0 and not create:  # checked under the lock: not a live creator's
                raise RunNotFoundError(
                    f"run {run_hash} holds no event: its writer died before its first write",
                    hint="aim storage verify --repair removes it")
            row = self._store.index.run_row(run_hash)
            if summary.deleted or (row is not None and row["deleted"]):
                raise RunClosedError(
                    f"run {run_hash} is deleted", hint=f"restore it first: aim runs restore {run_hash}")
            repair_scans(scans)
            if self._rewind_to is not None and summary.last_seq >= 0:
                # run.resumed, then run.rewound: the state is the log's as the marker bounds it.
                extents = {s: indexer.replay_stream(layout, run_hash, s)[0].last_seq
                           for s in layout.stream_ids(run_hash) if s != PRIMARY}
                marker = Marker(summary.last_seq + 2, self._rewind_to, extents)
                history = run_history(layout, run_hash, extra=marker)
                summary = indexer.replay_stream(layout, run_hash, stream, history)[0]
        except BaseException:
            self._run_lock.release()  # type: ignore[union-attr]
            raise
        self._state = RunState(summary, self._policy)
        where: dict[str, Any] = {"pid": os.getpid(), "host": socket.gethostname(), "format": ev.FORMAT_VERSION}
        if job is not None:
            where.update(rank=job.rank, world_size=job.world_size)
        experiment = self._experiment_arg
        if summary.last_seq >= 0:
            self._state.record(ev.RUN_RESUMED, now, {"hash": run_hash, **where})
            if marker is not None:
                self._state.record(ev.RUN_REWOUND, now, {"step": marker.step, "extents": marker.extents})
            if stream == PRIMARY and experiment and experiment != summary.experiment:
                self._state.record(ev.META_SET, now, {"field": "experiment", "value": experiment})
        elif stream == PRIMARY:
            self._state.record(ev.RUN_STARTED, now, {"hash": run_hash, "experiment": experiment or "default",
                                                     "name": None, **where})
        else:
            self._state.record(ev.STREAM_STARTED, now, {"hash": run_hash, "stream": stream,
                                                        "experiment": experiment or "default", **where})
        return self._stream_size(stream)

    def _stream_size(self, stream: str) -> int:
        """Bytes of this writer's stream as it is now (after a torn tail's repair): what its
        index row's ``log_size`` starts from."""
        return sum(p.stat().st_size for p in self._store.layout.stream_segment_paths(self.hash, stream))

    def _open_fork(self) -> int:
        """``Run(fork_from=h, fork_step=N)``: create the fork (``sdk/fork.py``) with its lock
        held, and write it next; return its log size."""
        layout = self._store.layout
        parent = self._fork_from
        assert parent is not None
        step = self._fork_step
        if step is None:  # the parent's whole history: its highest step
            summary = (indexer.indexed_summary(self._store.index, layout, parent)
                       or indexer.replay_run(layout, parent)[0])
            step = max((e[0] - 1 for e in (*summary.sequences.values(), *summary.objects.values())), default=0)
        self.hash, self._run_lock = fork_run(self._store, parent, max(step, 0),
                                             experiment=self._experiment_arg, hold_lock=True)
        self._state = RunState(indexer.replay_stream(layout, self.hash, PRIMARY)[0], self._policy)
        return self._stream_size(PRIMARY)

    def _open_inert(self, run_hash: str | None) -> None:
        """Rank k of a job that records from rank 0 only (``ranks="zero"``): values are
        validated as anywhere, then dropped; nothing is written, no lock is taken."""
        self.hash = run_hash or new_run_hash()
        self._inert = True
        self._state = RunState(RunSummary(hash=self.hash), self._policy)
        self._state_track = self._state.track
        self._writer = NullWriter()  # type: ignore[assignment]
        self._index_sync = IndexSync(self._state, self._lock, None, None, 0)
        self._capture_sink = CaptureSink(self._state, self._lock, self._cond)
        self._system_interval = None
        self._capture_terminal = False

    def _require_run_dir(self) -> None:
        if not self._store.layout.run_dir(self.hash).is_dir():
            raise RunNotFoundError(f"no run {self.hash} in {self._store.layout.root}")

    def _take_lock(self, stream: str = PRIMARY) -> None:
        self._run_lock = RunLock(self._store.layout.lock_file(self.hash, stream))
        self._run_lock.acquire()
