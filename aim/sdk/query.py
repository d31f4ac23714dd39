"""``Repo.query_runs``: Aim's run query over the index (AimQL, see ``docs/query.md``).

Runs are filtered from their index rows: attributes, params, tags and status with no log read;
a query that reads ``run.metrics[...]`` also reads each candidate's sequence rows (last values).
``query_run_rows`` first lets SQLite select the candidates (``aim.core.query.sql``: a superset
of the matches), then evaluates the query in Python over the candidates SQL was not sure of.
The matching runs come back as Aim's shapes: a collection whose ``iter_runs()`` yields items
with a ``.run`` (opened read-only when first asked for).
"""

from __future__ import annotations

import enum
import sys
import time
from collections.abc import Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from aim.core.query import Query, RunView, SequenceInfo, compile_query, evaluate, parse
from aim.core.values import float_from_stored
from aim.storage.index import IndexCorruptError

if TYPE_CHECKING:
    from aim.sdk.repo import Repo
    from aim.sdk.run import Run


class QueryReportMode(enum.Enum):
    """How a long query reports progress (Aim's names)."""

    DISABLED = 0
    PROGRESS_BAR = 1
    PROGRESS_TUPLE = 2


class RunHandle:
    """A run a query matched, by hash, and the ``Run`` itself on first use (read-only, from its
    index row: no log read)."""

    def __init__(self, repo: Repo, run_hash: str) -> None:
        self.repo = repo
        self.hash = run_hash
        self._run: Run | None = None

    @property
    def run(self) -> Run:
        """The run, opened read-only."""
        if self._run is None:
            from aim.sdk.run import Run

            self._run = Run(self.hash, repo=self.repo, read_only=True)
        return self._run


class RunQueryItem(RunHandle):
    """One matching run: its index row, and ``.run`` (Aim's item of ``iter_runs()``)."""

    def __init__(self, repo: Repo, row: dict[str, Any]) -> None:
        super().__init__(repo, row["hash"])
        self.row = row

    def __repr__(self) -> str:
        return f"<RunQueryItem {self.hash}>"


class QueryRunCollection:
    """The runs a query matched, oldest first (Aim's ``QueryRunTraceCollection`` shape)."""

    def __init__(self, repo: Repo, rows: list[dict[str, Any]]) -> None:
        self.repo = repo
        self.rows = rows

    def iter_runs(self) -> Iterator[RunQueryItem]:
        """One item per matching run; ``item.run`` is the run."""
        for row in self.rows:
            yield RunQueryItem(self.repo, row)

    def __iter__(self) -> Iterator[RunQueryItem]:
        return self.iter_runs()

    def __len__(self) -> int:
        return len(self.rows)

    def hashes(self) -> list[str]:
        """The matching runs' hashes."""
        return [row["hash"] for row in self.rows]


def sequence_infos(repo: Repo, run_hash: str) -> list[SequenceInfo]:
    """A run's sequences from the index: (name, context, points, last step, last value)."""
    out: list[SequenceInfo] = []
    for name, context, points, last_step, last_value in repo.index.sequence_rows(run_hash):
        value = None if last_value is None else float_from_stored(orjson.loads(last_value))
        out.append((name, orjson.loads(context), points, last_step, value))
    return out


def matching_rows(repo: Repo, query: str, rows: list[dict[str, Any]],
                  report_mode: QueryReportMode = QueryReportMode.DISABLED) -> list[dict[str, Any]]:
    """The rows (from ``Repo.list_runs``) for which ``query`` holds; raises ``QueryError``.

    Evaluates the query in Python over every row: the brute-force reference of ``query_run_rows``.
    """
    parsed = parse(query)
    if parsed.empty:
        return rows
    return _evaluated(repo, parsed, rows, [False] * len(rows), report_mode)


def query_run_rows(repo: Repo, query: str, report_mode: QueryReportMode = QueryReportMode.DISABLED,
                   offset: str | None = None) -> list[dict[str, Any]]:
    """The not-deleted runs for which ``query`` holds, as ``Repo.list_runs`` rows, oldest first;
    with ``offset`` (a run hash), only those after that run (none when it is not listed).

    The same rows as ``matching_rows(repo, query, repo.list_runs(), report_mode)`` (sliced after
    ``offset``), but SQLite selects the candidates first and Python evaluates the query only over
    those SQL could not decide. Raises ``QueryError`` for a bad query.
    """
    parsed = parse(query)
    compiled = compile_query(parsed)
    if offset is not None:
        start = repo.index.run_row(offset)
        if start is None or start["deleted"]:
            return []  # not listed: nothing is after it
        compiled = compiled.after(start["creation_time"], start["hash"])
    try:
        rows = repo.index.select_run_rows(compiled.where, compiled.args, certain=compiled.certain,
                                          certain_args=compiled.certain_args)
    except IndexCorruptError:
        # SQLite refused the statement (a limit of this build: depth, size). A corrupt index
        # fails again below, where it always did; a sound one answers by brute force.
        return _brute_force(repo, query, report_mode, offset)
    certain = [row.pop("certain") for row in rows]
    for row in rows:
        repo._decode_row(row)  # the one decoding of an index row (store.py)
    return _evaluated(repo, parsed, rows, certain, report_mode)


def _brute_force(repo: Repo, query: str, report_mode: QueryReportMode,
                 offset: str | None) -> list[dict[str, Any]]:
    rows = repo.list_runs()
    if offset is not None:
        hashes = [row["hash"] for row in rows]
        rows = rows[hashes.index(offset) + 1:] if offset in hashes else []
    return matching_rows(repo, query, rows, report_mode)


def _evaluated(repo: Repo, parsed: Query, rows: list[dict[str, Any]], certain: list[bool],
               report_mode: QueryReportMode) -> list[dict[str, Any]]:
    """The rows that are certain matches or for which the query holds in Python."""
    now = time.time()
    out = []
    for row, sure in with_progress(list(zip(rows, certain)), report_mode):
        if sure or evaluate(parsed, {"run": RunView(row, partial(sequence_infos, repo, row["hash"]), now)}):
            out.append(row)
    return out


_T = TypeVar("_T")


def with_progress(items: Sequence[_T], report_mode: QueryReportMode) -> Iterator[_T]:
    """``items``, counting them on stderr as a query goes through them, when asked for
    (``PROGRESS_BAR``), when there are more than 1,000 (runs) and stderr is a terminal."""
    show = report_mode is QueryReportMode.PROGRESS_BAR and len(items) > 1000 and sys.stderr.isatty()
    for i, item_ in enumerate(items):
        yield item_
        if show and i % 1000 == 999:
            print(f"\rquery: {i + 1:,}/{len(items):,} runs", end="", file=sys.stderr, flush=True)
    if show:
        print(file=sys.stderr)
