"""Read-side benchmarks for ``tools/bench.py`` (issue 15): listing runs, opening a big run,
reading its series. Each is reported against a raw floor measured in the same run.

``read_iter_runs``
    ``[(r.hash, r.experiment, r.get("hparams")) for r in Repo(p).iter_runs()]`` over
    ``--small-runs`` runs (500, made with the SDK: two params, one metric point), the index
    already open; median of 7. Floor: the same three fields straight from SQLite
    (``SELECT hash, experiment, params FROM runs`` and ``orjson.loads`` of each params).
    Target: <= 20 ms.
``read_iter_runs_100k``
    The same over 100,000 runs (``--list-runs``) whose index rows and directories are written
    directly (making 100k real runs would take most of an hour; listing reads nothing else).
    Target: <= 1 s.
``read_open_big_run``
    A closed run of ``--big-run-events`` metric events (1,000,000: a 1M-point ``loss`` and a
    1k-point ``val_loss``). ``Run(h, repo=p, read_only=True)`` timed, median of 7. Floor: what
    opening cost before, decompressing and parsing the whole log. Target: <= 5 ms.
``read_get_metric``
    On that run: ``get_metric(name)`` then ``metric.data.numpy()`` (the columns as numpy
    arrays), for the 1k- and the 1M-point series, median of 7, the series store already built.
    Floor: ``numpy.load`` of an ``.npy`` file holding the same four columns. Also the first read
    after ``aim storage reindex`` (the store rebuilt from the log) against the parse floor.
    Targets: 1k <= 5 ms, 1M <= 100 ms.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGET_ITER_500_MS = 20.0
TARGET_ITER_100K_S = 1.0
TARGET_OPEN_MS = 5.0
TARGET_METRIC_1K_MS = 5.0
TARGET_METRIC_1M_MS = 100.0
QUIET: dict[str, Any] = {"system_tracking_interval": None, "capture_terminal_logs": False}


def median_ms(fn: Callable[[], Any], rounds: int = 7) -> float:
    """Median wall time of ``fn`` in milliseconds (after one untimed warm-up call)."""
    fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def ratio(a: float, b: float) -> float:
    """``a / b`` to two places (inf when the floor is 0)."""
    return round(a / b, 2) if b else float("inf")


def build_small(path: str, n: int) -> None:
    """``n`` real runs with two params and one metric point each."""
    from aim import Run

    for i in range(n):
        with Run(repo=path, experiment=f"e{i % 5}", **QUIET) as run:
            run["hparams"] = {"lr": 10 ** -(i % 4), "batch_size": 32 * (1 + i % 3)}
            run.track(1.0 / (i + 1), name="loss")


def build_listing(path: str, n: int) -> None:
    """A repository whose index lists ``n`` finished runs (rows and directories only)."""
    import orjson

    from aim import Repo
    from aim.storage.hashes import new_run_hash

    repo = Repo(path, init=True)
    db_path = repo.layout.index_db
    _ = repo.index  # create the schema
    repo.close()
    now = time.time()
    rows = []
    for i in range(n):
        h = new_run_hash()
        os.mkdir(repo.layout.runs / h)
        params = orjson.dumps({"hparams": {"lr": 10 ** -(i % 4), "batch_size": 32 * (1 + i % 3)}}).decode()
        rows.append((h, f"e{i % 5}", None, None, 0, 0, "finished", now + i * 1e-3, now + i * 1e-3 + 1,
                     3, "[]", params, 0, ""))
    db = sqlite3.connect(db_path)
    with db:
        db.executemany("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.close()


def iter_runs_floor(db_path: Path) -> Callable[[], Any]:
    """The fields read straight from SQLite: what no listing can beat."""
    import orjson

    def floor() -> Any:
        db = sqlite3.connect(db_path)
        try:
            rows = db.execute("SELECT hash, experiment, params FROM runs WHERE deleted = 0 "
                              "ORDER BY creation_time, hash").fetchall()
            return [(h, e, orjson.loads(p).get("hparams")) for h, e, p in rows]
        finally:
            db.close()
    return floor


def bench_iter_runs(path: str, n: int, target_ms: float, name: str,
                    emit: Callable[[dict[str, Any]], None]) -> None:
    from aim import Repo

    repo = Repo(path)
    _ = repo.index  # opened (and healed) outside the timer, as in a notebook's second cell
    got = [(r.hash, r.experiment, r.get("hparams")) for r in repo.iter_runs()]
    assert len(got) == n and all(g[2] for g in got), "iter_runs lost runs or params"
    rounds = 7 if n <= 10_000 else 3
    ms = median_ms(lambda: [(r.hash, r.experiment, r.get("hparams")) for r in repo.iter_runs()], rounds)
    floor = median_ms(iter_runs_floor(repo.layout.index_db), rounds)
    emit({"bench": name, "runs": n, "median_ms": round(ms, 2), "floor_ms": round(floor, 2),
          "ratio_to_floor": ratio(ms, floor), "target_ms": target_ms, "ok": ms <= target_ms})


def build_big_run(path: str, events: int) -> str:
    from aim import Run
    from aim.sdk import run_base

    saved = run_base.CLOSE_CATCH_UP_BYTES
    run_base.CLOSE_CATCH_UP_BYTES = 0  # the first read below materializes it, timed
    try:
        with Run(repo=path, **QUIET) as run:
            run["hparams"] = {"lr": 0.001}
            small = 1000
            for i in range(events - small):
                run.track(1.0 / (1 + i), name="loss", step=i)
            for i in range(small):
                run.track(2.0 / (1 + i), name="val_loss", step=i)
        return run.hash
    finally:
        run_base.CLOSE_CATCH_UP_BYTES = saved


def parse_log_floor(path: str, run_hash: str) -> Callable[[], Any]:
    """Decompress every frame of the log and parse every line: what a reader of the log pays."""
    import orjson

    from aim.storage.layout import RepoLayout, resolve_aim_dir
    from aim.storage.segment_reader import iter_segment_lines

    segments = RepoLayout(resolve_aim_dir(path)).segment_paths(run_hash)

    def floor() -> int:
        loads, n = orjson.loads, 0
        for seg in segments:
            for line in iter_segment_lines(seg):
                loads(line)
                n += 1
        return n
    return floor


def bench_big_run(path: str, events: int, tmp: Path, emit: Callable[[dict[str, Any]], None]) -> None:
    import numpy as np

    from aim import Repo, Run

    h = build_big_run(path, events)
    parse = parse_log_floor(path, h)
    parse_ms = median_ms(parse, 3)
    # First read after a reindex: the store is rebuilt from the log.
    Repo(path).reindex()
    t0 = time.perf_counter()
    first = Run(h, repo=path, read_only=True).get_metric("loss")
    assert first is not None
    first.data.numpy()
    first_ms = (time.perf_counter() - t0) * 1e3
    emit({"bench": "read_first_after_reindex", "events": events, "ms": round(first_ms, 1),
          "parse_floor_ms": round(parse_ms, 1), "ratio_to_floor": ratio(first_ms, parse_ms)})

    open_ms = median_ms(lambda: Run(h, repo=path, read_only=True))
    emit({"bench": "read_open_big_run", "events": events, "median_ms": round(open_ms, 2),
          "parse_floor_ms": round(parse_ms, 1), "ratio_to_floor": ratio(open_ms, parse_ms),
          "target_ms": TARGET_OPEN_MS, "ok": open_ms <= TARGET_OPEN_MS})

    run = Run(h, repo=path, read_only=True)
    for name, target in (("val_loss", TARGET_METRIC_1K_MS), ("loss", TARGET_METRIC_1M_MS)):
        metric = run.get_metric(name)
        assert metric is not None
        steps, (values, epochs, stamps) = metric.data.numpy()
        npy = tmp / f"{name}.npy"
        np.save(npy, np.stack([steps.astype(np.float64), values, epochs, stamps]))

        def read(name: str = name) -> Any:
            m = run.get_metric(name)
            assert m is not None
            return m.data.numpy()
        ms = median_ms(read)
        floor = median_ms(lambda npy=npy: np.load(npy))
        emit({"bench": "read_get_metric", "points": len(steps), "median_ms": round(ms, 2),
              "npy_floor_ms": round(floor, 2), "ratio_to_floor": ratio(ms, floor),
              "target_ms": target, "ok": ms <= target})


def run(args: Any, tmp: Path, only: set[str], emit: Callable[[dict[str, Any]], None],
                log: Callable[[str], None]) -> None:
    """Run the selected read benchmarks (see the module docstring)."""
    if "read_iter_runs" in only:
        log(f"reads: {args.small_runs} runs made with the SDK")
        small = str(tmp / "reads-small")
        build_small(small, args.small_runs)
        bench_iter_runs(small, args.small_runs, TARGET_ITER_500_MS, "read_iter_runs", emit)
    if "read_iter_runs_100k" in only:
        log(f"reads: a listing of {args.list_runs} runs")
        big = str(tmp / "reads-listing")
        build_listing(big, args.list_runs)
        bench_iter_runs(big, args.list_runs, TARGET_ITER_100K_S * 1e3, "read_iter_runs_100k", emit)
    if only & {"read_open_big_run", "read_get_metric"}:
        log(f"reads: a run of {args.big_run_events} events")
        bench_big_run(str(tmp / "reads-big"), args.big_run_events, tmp, emit)
