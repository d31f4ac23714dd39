"""Benchmarks of ``aim up`` for ``tools/bench.py`` (issue 16), end to end: a real ``aim up``
process, real HTTP on loopback, each against a floor measured in the same run.

``ui_runs_page``
    ``GET /api/runs`` (50 rows, newest first, a param and a metric column) over a listing of
    ``--runs`` (10,000) and ``--list-runs`` (100,000) runs, and the same sorted by the param;
    median of 9. Floor: the page's two SQL statements run directly on the index.
    Target: <= 100 ms per page.
``ui_series``
    ``GET /api/series`` for 100 runs x 100,000 steps (``--ui-series-runs``, ``--ui-series-steps``)
    downsampled to 1,000 points, the series store built; median of 5. Floor: ``numpy.load`` of
    the same 100 value columns from ``.npy`` files. Target: <= 500 ms.
``ui_live_latency``
    A child process tracks a point every 0.2 s with its wall time as the value; a live stream
    (``/api/live``) receives it: the time from ``track`` to the event, max and median of 20.
    Target: <= 2 s (the writer flushes every second; the stream looks every half second).
``ui_server_rss``
    The ``aim up`` process's resident memory after all of the above.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_reads import median_ms, ratio  # tools/ is the script's folder

TARGET_PAGE_MS = 100.0
TARGET_SERIES_MS = 500.0
TARGET_LIVE_S = 2.0
QUIET: dict[str, Any] = {"system_tracking_interval": None, "capture_terminal_logs": False}


class Server:
    """``aim up --port 0`` on a repository, as a user starts it."""

    def __init__(self, repo: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "aim", "up", "--repo", repo, "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.base = line.split(" at ", 1)[1].split()[0].rstrip("/")

    def rss_mb(self) -> float:
        import psutil

        return round(psutil.Process(self.proc.pid).memory_info().rss / 2**20, 1)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)


def bench_runs_page(path: str, n: int, emit: Callable[[dict[str, Any]], None]) -> float:
    """Pages of a listing of ``n`` runs; returns the server's RSS after them."""
    import httpx

    from aim import Repo

    db = Repo(path).layout.index_db
    server = Server(path)
    try:
        client = httpx.Client(base_url=server.base, timeout=60)
        columns = json.dumps([["param", "hparams", "lr"], ["metric", "loss", {}]])
        for name, extra in (("newest", {}), ("by_param", {"sort": '["param", "hparams", "lr"]', "desc": "0"})):
            params = {"limit": "50", "columns": columns, **extra}
            rows = client.get("/api/runs", params=params).json()
            assert rows["total"] == n and len(rows["rows"]) == 50, rows
            ms = median_ms(lambda params=params: client.get("/api/runs", params=params).json(), 9)
            order = ("creation_time DESC, hash DESC" if name == "newest"
                     else "json_extract(params, '$.\"hparams\".\"lr\"'), creation_time, hash")

            def floor(order: str = order) -> Any:
                con = sqlite3.connect(db)
                try:
                    con.execute("SELECT count(*) FROM runs WHERE deleted = 0").fetchone()
                    sql = f"SELECT * FROM runs WHERE deleted = 0 ORDER BY {order} LIMIT 50"
                    return con.execute(sql).fetchall()
                finally:
                    con.close()
            floor_ms = median_ms(floor, 9)
            emit({"bench": "ui_runs_page", "runs": n, "sort": name, "median_ms": round(ms, 2),
                  "floor_ms": round(floor_ms, 2), "ratio_to_floor": ratio(ms, floor_ms),
                  "target_ms": TARGET_PAGE_MS, "ok": ms <= TARGET_PAGE_MS})
        client.close()
        return server.rss_mb()
    finally:
        server.stop()


def build_series(path: str, runs: int, steps: int) -> None:
    """``runs`` real runs of one ``loss`` sequence of ``steps`` points, series store built."""
    from aim import Repo, Run
    from aim.sdk import series

    for i in range(runs):
        with Run(repo=path, experiment=f"e{i % 4}", **QUIET) as run:
            run["hparams"] = {"lr": 10.0 ** -(i % 5)}
            track = run.track
            for s in range(steps):
                track((s % 997) * 1e-3 + i, name="loss", step=s)
    repo = Repo(path)
    for h in repo.list_all_runs():
        series.catch_up(repo.layout, h)


def bench_series(path: str, runs: int, steps: int, tmp: Path, emit: Callable[[dict[str, Any]], None]) -> None:
    import httpx
    import numpy as np

    from aim import Repo

    build_series(path, runs, steps)
    server = Server(path)
    try:
        params = {"metrics": '[["loss", {}]]', "points": "1000", "max_runs": str(runs)}
        with httpx.Client(base_url=server.base, timeout=120) as client:
            got = client.get("/api/series", params=params).json()
            assert len(got["lines"]) == runs and all(len(line["y"]) == 1000 for line in got["lines"])
            ms = median_ms(lambda: client.get("/api/series", params=params).content, 5)
        files = []
        for k, run in enumerate(Repo(path).iter_runs()):
            f = tmp / f"series-floor-{k}.npy"
            np.save(f, run.get_metric("loss").values.values_numpy())
            files.append(f)
        floor = median_ms(lambda: [np.load(f) for f in files], 5)
        emit({"bench": "ui_series", "runs": runs, "steps": steps, "points": 1000, "median_ms": round(ms, 1),
              "npy_floor_ms": round(floor, 1), "ratio_to_floor": ratio(ms, floor),
              "target_ms": TARGET_SERIES_MS, "ok": ms <= TARGET_SERIES_MS})
    finally:
        server.stop()


LIVE_WRITER = """
import sys, time
from aim import Run
run = Run(repo=sys.argv[1], system_tracking_interval=None, capture_terminal_logs=False)
print(run.hash, flush=True)
for s in range(int(sys.argv[2])):
    time.sleep(0.2)
    run.track(time.time(), name="clock", step=s)
run.close()
"""


def bench_live(path: str, emit: Callable[[dict[str, Any]], None]) -> float:
    """Latency from ``track`` to a live event; returns the server's RSS after it."""
    import httpx

    from aim import Repo

    points = 20
    Repo(path, init=True).close()
    server = Server(path)
    writer = subprocess.Popen([sys.executable, "-c", LIVE_WRITER, path, str(points + 10)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        h = writer.stdout.readline().strip()
        delays: list[float] = []
        watch = json.dumps([[h, "clock", {}, -1]])
        with httpx.stream("GET", f"{server.base}/api/live", params={"watch": watch}, timeout=60) as r:
            event = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "points":
                    now = time.time()
                    delays += [now - v for v in json.loads(line[6:])["y"]]
                    if len(delays) >= points:
                        break
        emit({"bench": "ui_live_latency", "points": len(delays),
              "median_s": round(statistics.median(delays), 3), "max_s": round(max(delays), 3),
              "target_s": TARGET_LIVE_S, "ok": max(delays) <= TARGET_LIVE_S})
        return server.rss_mb()
    finally:
        writer.kill()
        writer.wait()
        server.stop()


def run(args: Any, tmp: Path, only: set[str], emit: Callable[[dict[str, Any]], None],
             log: Callable[[str], None]) -> None:
    """Run the selected ``aim up`` benchmarks (see the module docstring)."""
    from bench_reads import build_listing

    rss: dict[str, float] = {}
    if "ui_runs_page" in only:
        for n in sorted({args.runs, args.list_runs}):
            log(f"ui: runs page over a listing of {n} runs")
            path = str(tmp / f"ui-listing-{n}")
            build_listing(path, n)
            rss[f"after_runs_page_{n}"] = bench_runs_page(path, n, emit)
    if "ui_series" in only:
        log(f"ui: series of {args.ui_series_runs} runs x {args.ui_series_steps} steps")
        bench_series(str(tmp / "ui-series"), args.ui_series_runs, args.ui_series_steps, tmp, emit)
    if "ui_live_latency" in only or "ui_server_rss" in only:
        log("ui: live latency")
        rss["after_live"] = bench_live(str(tmp / "ui-live"), emit)
    if "ui_server_rss" in only:
        emit({"bench": "ui_server_rss", **{k + "_mb": v for k, v in rss.items()}})
