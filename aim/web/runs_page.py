"""A page of the runs table: query, sort, slice, and the chosen columns' values.

SQLite does the work: a query it decides alone (``CompiledQuery.exact``: experiment, tags,
params, last values...) filters, counts, sorts and pages in two statements, whatever the number
of runs. A query with a part only Python can decide (a regex, a run's status) is evaluated over
SQL's candidates once, and the matching hashes are kept for a few seconds, so that paging and
sorting through its results do not evaluate it again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from aim.core.query.parse import parse
from aim.core.query.sql import compile_query
from aim.sdk.query import matching_rows, query_run_rows
from aim.web.columns import Column, last_value, param_at

if TYPE_CHECKING:
    from aim.sdk.repo import Repo

MAX_LIMIT = 500
MAX_COLUMNS = 64
_CACHE_SECONDS = 5.0  # a status a lock probe decides may change without the index changing
_CACHE_ENTRIES = 8
DEFAULT_SORT = Column("attr", ("created",))


@dataclass(frozen=True)
class PageRequest:
    """What the table asks for (validated by ``aim.web.app`` from the URL)."""

    query: str = ""
    sort: Column = DEFAULT_SORT
    descending: bool = True
    offset: int = 0
    limit: int = 50
    columns: tuple[Column, ...] = ()
    deleted: bool = False  # the tombstoned runs (to restore) instead of the live ones


class _Matches:
    """Hashes matching queries SQL cannot decide alone, for a few seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, tuple[int, int], list[str]]] = {}

    def get(self, repo: Repo, query: str) -> list[str]:
        version = repo.index.data_version()
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(query)
            if hit is not None and hit[1] == version and now - hit[0] < _CACHE_SECONDS:
                return hit[2]
        hashes = [row["hash"] for row in query_run_rows(repo, query)]
        with self._lock:
            if len(self._entries) >= _CACHE_ENTRIES:
                self._entries.pop(next(iter(self._entries)))
            self._entries[query] = (now, version, hashes)
        return hashes


_matches = _Matches()


def runs_page(repo: Repo, request: PageRequest) -> dict[str, Any]:
    """The page as JSON-ready data: ``total`` matching runs, and ``rows`` with the attributes
    every table shows plus ``values``, one per requested column. Raises ``QueryError``."""
    compiled = compile_query(parse(request.query))
    if compiled.exact:
        where, args = compiled.where, compiled.args
    else:
        if request.deleted:  # Python decides over the (few) tombstoned runs
            hashes = [r["hash"] for r in matching_rows(repo, request.query, repo.list_runs(only_deleted=True))]
        else:
            hashes = _matches.get(repo, request.query)
        where, args = "runs.hash IN (SELECT value FROM json_each(?))", (orjson.dumps(hashes).decode(),)
    order, order_args = request.sort.order(request.descending)
    total, rows = repo.index.run_page(where, args, order, order_args, request.limit, request.offset,
                                      request.deleted)
    metric_keys = [(c.key[0], c.key[1]) for c in request.columns if c.kind == "metric"]
    lasts = repo.index.last_values([r["hash"] for r in rows], metric_keys)
    now = time.time()
    out = []
    for row in rows:
        params = orjson.loads(row["params"])  # JSON form: NaN and bytes stay strings for JSON
        attrs = run_attrs(repo, row, now)
        attrs["values"] = [
            param_at(params, c.key) if c.kind == "param"
            else last_value(lasts.get((row["hash"], *c.key))) if c.kind == "metric"
            else attrs[c.key[0]] for c in request.columns]
        out.append(attrs)
    return {"total": total, "offset": request.offset, "rows": out,
            "columns": [c.spec() for c in request.columns]}


def run_attrs(repo: Repo, row: dict[str, Any], now: float) -> dict[str, Any]:
    """The attributes of an index row as the UI shows them (status derived as ``ls`` does)."""
    created, ended = row["creation_time"], row["end_time"]
    status = repo.live_status(row["hash"], row["status"])
    end = ended if ended is not None else (now if status == "running" else None)
    tags = row["tags"]
    return {
        "hash": row["hash"], "name": row["name"], "experiment": row["experiment"],
        "description": row["description"], "status": status, "archived": bool(row["archived"]),
        "tags": orjson.loads(tags) if isinstance(tags, str) else tags,
        "created": created, "ended": ended,
        "duration": None if created is None or end is None else round(end - created, 3),
    }
