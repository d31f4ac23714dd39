"""Metric series for charts: read from the series store, downsampled to the chart's width.

A chart a thousand pixels wide cannot show more than a thousand points per line, so no more
cross the wire: each line is cut into ``points`` buckets of consecutive points, and each bucket
sends its mean (the line) with its min and max (a band, so a spike survives), all computed with
numpy over the packed columns. A 1M-point series costs the browser what a 1k one does.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from aim.core.encoding import context_key
from aim.core.values import to_json_form
from aim.sdk import series
from aim.sdk.query import query_run_rows
from aim.storage.series_files import NO_EPOCH, Columns

if TYPE_CHECKING:
    from aim.sdk.repo import Repo

X_AXES = ("step", "epoch", "relative", "time")
MAX_POINTS = 5_000
MAX_RUNS = 1_000
MAX_METRICS = 32
MAX_LIVE_POINTS = 10_000  # new points of one line per live update; more: the client refetches


@dataclass(frozen=True)
class Metric:
    """A sequence the user picked: its name and context."""

    name: str
    context: dict[str, Any]

    @property
    def key(self) -> str:
        return context_key(self.context).decode()


@dataclass(frozen=True)
class SeriesRequest:
    """Lines for the metrics explorer: ``metrics`` of the runs ``query`` selects."""

    query: str
    metrics: tuple[Metric, ...]
    x: str = "step"
    points: int = 1_000
    skip: frozenset[str] = frozenset()  # runs the page has drawn already
    max_runs: int = 200


def x_values(columns: Columns, x: str, start: float | None) -> np.ndarray:
    """The x coordinate of every point: step, epoch (NaN where none), seconds since the
    run's creation, or wall-clock time (seconds since the epoch). Views of the packed columns
    where the type allows: no copy of a million points."""
    if x == "step":
        return np.frombuffer(columns.steps, dtype=np.int64)
    if x == "epoch":
        epochs = np.frombuffer(columns.epochs, dtype=np.int64).astype(np.float64)
        epochs[epochs == NO_EPOCH] = np.nan
        return epochs
    times = np.frombuffer(columns.timestamps, dtype=np.float64)
    return times - (start or 0.0) if x == "relative" else times


def downsample(xs: np.ndarray, ys: np.ndarray, points: int) -> dict[str, Any]:
    """At most ``points`` points: as they are when there are no more, else one per bucket
    of consecutive points (its mean x and y, and the min and max y). NaN and infinities are
    left out of a bucket's mean and band; a bucket of nothing else is a gap."""
    n = len(ys)
    if n <= points:
        return {"x": _floats(xs), "y": _floats(ys), "min": None, "max": None, "n": n}
    starts = (np.arange(points, dtype=np.int64) * n) // points
    counts = np.diff(np.append(starts, n))
    x = np.add.reduceat(xs, starts) / counts  # int64 steps sum exactly
    finite = np.isfinite(ys)
    if finite.all():  # the usual case: no masking, four passes in C
        y = np.add.reduceat(ys, starts) / counts
        lo, hi = np.minimum.reduceat(ys, starts), np.maximum.reduceat(ys, starts)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            kept = np.where(finite, ys, np.nan)
            seen = np.add.reduceat(finite.astype(np.int64), starts)
            y = np.add.reduceat(np.where(finite, ys, 0.0), starts) / seen  # 0/0: NaN, a gap
            lo, hi = np.fmin.reduceat(kept, starts), np.fmax.reduceat(kept, starts)
    return {"x": _floats(x), "y": _floats(y), "min": _floats(lo), "max": _floats(hi), "n": n}


def _floats(a: np.ndarray) -> list[float | None]:
    """JSON has no NaN or infinities: they go as null (a gap in the line)."""
    a = np.asarray(a, dtype=np.float64)
    if np.isfinite(a).all():
        return a.tolist()
    return [v if np.isfinite(v) else None for v in a.tolist()]


def values_of(columns: Columns) -> np.ndarray:
    """The values column as float64 (ints converted: a chart draws them the same)."""
    if columns.values.typecode == "q":
        return np.frombuffer(columns.values, dtype=np.int64).astype(np.float64)
    return np.frombuffer(columns.values, dtype=np.float64)


def series_lines(repo: Repo, request: SeriesRequest) -> dict[str, Any]:
    """The lines of ``request`` and the runs they belong to (with their params, for grouping).
    Raises ``QueryError`` for a bad query."""
    rows = query_run_rows(repo, request.query)
    truncated = len(rows) > request.max_runs
    runs: dict[str, Any] = {}
    wanted: list[tuple[dict[str, Any], Metric]] = []
    for row in rows[:request.max_runs]:
        h = row["hash"]
        runs[h] = {"hash": h, "name": row["name"], "experiment": row["experiment"],
                   "status": row["status"], "created": row["creation_time"],
                   "params": to_json_form(row["params"]), "tags": row["tags"]}
        if h not in request.skip:
            wanted += [(row, metric) for metric in request.metrics]

    def line(item: tuple[dict[str, Any], Metric]) -> dict[str, Any] | None:
        row, metric = item
        columns = series.read_sequence(repo.layout, row["hash"], metric.name, metric.context)
        if columns is None:
            return None
        points = downsample(x_values(columns, request.x, row["creation_time"]), values_of(columns),
                            request.points)
        last = int(columns.steps[-1]) if len(columns) else -1
        return {"run": row["hash"], "name": metric.name, "context": metric.context, "last_step": last,
                **points}

    # Reading a line is checksums, file reads and numpy: they release the GIL, so lines are
    # read on every core (100 runs x 100k steps: tools/bench.py, ui_series).
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        lines = [got for got in pool.map(line, wanted) if got is not None]
    return {"runs": runs, "lines": lines, "truncated": truncated, "x": request.x}


def new_points(repo: Repo, run_hash: str, metric: Metric, after_step: int, x: str,
               created: float | None) -> dict[str, Any] | None:
    """The points of a line past ``after_step`` (a live run's growth), or None when there are
    none; ``reset`` when there are too many to send (the client then refetches the line)."""
    columns = series.read_sequence(repo.layout, run_hash, metric.name, metric.context)
    if columns is None or not len(columns) or columns.steps[-1] <= after_step:
        return None
    steps = np.frombuffer(columns.steps, dtype=np.int64)
    first = int(np.searchsorted(steps, after_step, side="right"))
    if len(steps) - first > MAX_LIVE_POINTS:
        return {"run": run_hash, "name": metric.name, "context": metric.context, "reset": True}
    xs = x_values(columns, x, created)[first:]
    ys = values_of(columns)[first:]
    return {"run": run_hash, "name": metric.name, "context": metric.context, "reset": False,
            "x": _floats(xs), "y": _floats(ys), "last_step": int(steps[-1]), "n": len(steps)}
