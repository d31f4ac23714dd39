"""A run's sequences: listing them as ``Metric`` objects, reading their points from the series
store, and read-only runs built from index rows (what ``Repo.iter_runs`` yields)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aim.core import events as ev
from aim.core.encoding import context_key
from aim.core.flush_policy import FlushPolicy
from aim.core.projection import RunSummary, SeqKey
from aim.core.run_state import ReadOnlyState, RunState
from aim.sdk import indexer, series
from aim.sdk.metrics import Metric
from aim.sdk.store import RepoStore
from aim.storage.series_files import Columns

if TYPE_CHECKING:
    from aim.sdk.run_base import RunBase

_R = TypeVar("_R", bound="RunSequencesMixin")

# A read-only run listed from the index (RunBase._from_index_row): it never writes, waits for
# room or flushes, so it shares one policy and one never-waited-on condition.
_READ_ONLY_POLICY = FlushPolicy()
_READ_ONLY_FIELDS: dict[str, Any] = {
    "_system_interval": None, "_log_system_params": False, "_capture_terminal": False,
    "_capturing": False, "_repo_arg": None, "_hash_arg": None, "_experiment_arg": None,
    "read_only": True, "force_resume": False, "_cond": threading.Condition(), "_closed": True,
    "_detached": False, "_sequences_in_index": True, "_writer": None, "_flusher": None,
    "_run_lock": None, "_segment_max_bytes": 0, "_segment_max_age": 0.0,
    "_policy": _READ_ONLY_POLICY,
}




def read_only_state(summary: RunSummary) -> RunState:
    """The state of a read-only run: its summary, every write refused."""
    # A ReadOnlyState has the RunState members a read-only run touches (summary, track,
    # record, finish, status): typed as the RunState the shells hold.
    return cast(RunState, ReadOnlyState(summary))


class RunSequencesMixin:
    """What ``RunBase`` does with sequences (see the module docstring)."""

    # Set by RunBase._configure and _open (or by _from_index_row).
    _state: RunState
    _lock: threading.Lock
    _store: RepoStore
    hash: str
    read_only: bool
    _closed: bool
    _sequences_in_index: bool  # True: the summary's sequences are still to be read
    _state_track: Callable[..., bool]

    def _flush_blocking(self, timeout: float | None = None) -> None:
        raise NotImplementedError  # RunBase's

    @property
    def _sequences(self) -> dict[SeqKey, list[Any]]:
        """The summary's sequence entries; a run listed by ``Repo.iter_runs`` reads them from
        the index on first use (listing runs with their params reads no sequence row)."""
        if self._sequences_in_index:
            self._sequences_in_index = False
            self._state.summary.sequences.update(indexer.indexed_sequences(self._store.index, self.hash))
            self._state.summary.objects.update(indexer.indexed_objects(self._store.index, self.hash))
        return self._state.summary.sequences

    @classmethod
    def _from_index_row(cls: type[_R], store: RepoStore, values: tuple[Any, ...]) -> _R:
        """A read-only run from its ``runs`` row as a tuple in ``RUN_COLUMNS`` order
        (``Repo.iter_runs``): no log read, no stat, its sequence rows read on first use. A
        "running" row may lag behind its live writer: that run opens the usual way (its log
        is replayed)."""
        summary = indexer.summary_from_values(values)
        if summary.status == ev.STATUS_RUNNING:
            return cls(summary.hash, repo=store, read_only=True)  # type: ignore[call-arg]
        run = cls.__new__(cls)
        # What _configure sets, less what a read-only run never uses (a Condition costs more
        # than the rest together: listing 100k runs is measured in tools/bench.py).
        run.__dict__.update(_READ_ONLY_FIELDS)
        run._lock = threading.Lock()
        run._store = store
        run.hash = summary.hash
        run._state = ReadOnlyState(summary)  # type: ignore[assignment]  # see read_only_state
        run._state_track = run._state.track
        return run

    def metrics(self) -> list[Metric]:
        """Every metric sequence of the run as a ``Metric`` (Aim's ``run.metrics()``), ordered
        by name then context; each reads its points on first use."""
        with self._lock:
            infos = sorted(((k[0], k[1], dict(e[3])) for k, e in self._sequences.items()),
                           key=lambda i: (i[0], i[1]))
        return [Metric(name, context, cast("RunBase", self), load=partial(self._metric_columns, name, context))
                for name, _, context in infos]

    def _metric_key(self, name: str, context: Mapping[str, Any] | None) -> SeqKey | None:
        key: SeqKey = (name, context_key(context))
        return key if key in self._sequences else None

    def _metric_columns(self, name: str, context: dict[str, Any]) -> Columns | None:
        """One sequence's points from the series store; a writer flushes first, so a read
        sees everything tracked before it (blocking IO)."""
        if not self.read_only and not self._closed:
            self._flush_blocking()
        return series.read_sequence(self._store.layout, self.hash, name, context)

    def _read_metric(self, name: str, context: Mapping[str, Any] | None) -> Metric:
        """Read one sequence from the series store, caught up from the log first (blocking IO)."""
        plain = dict(context or {})
        columns = series.read_sequence(self._store.layout, self.hash, name, plain)
        return Metric(name, plain, cast("RunBase", self), columns)
