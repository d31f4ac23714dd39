"""Benchmarks for aim's write path, memory, run lifecycle, ``aim runs ls`` and run management.

Usage: ``python tools/bench.py [--quick] [--only NAME[,NAME]] [--events N] [--rss-events N]
[--runs N] [--mgmt-runs N] [--big-run-events N] [--profile-async BACKEND]``. Each measurement
prints one JSON object per line on stdout (``bench`` names it, units are in the key names,
``ok`` says whether it meets its target); progress goes to stderr.
Everything runs in one process (plus the subprocesses named below) under one temporary
directory, removed at the end, so the ratios compare like with like on a noisy machine.

Measurements and targets:

``raw_floor``
    What the library cannot beat: build the same dicts a metric event is
    (``seq, ts, type, name, context, step, epoch, value``, the context as a pre-serialized
    ``orjson.Fragment`` as ``RunState`` keeps it), 20,000 at a time; serialize each batch
    with one ``orjson.dumps`` of the list, cut into JSON lines (the cheapest way found, and the
    one the library uses: about twice as fast as a dumps per event); compress each batch into
    one frame with
    ``aim.storage.frames.new_compressor()`` (the library's zstd parameters), ``os.write`` to an
    ``O_APPEND`` file, ``fsync`` at the end. Reports events/s. Single thread, no locks.
``track_throughput``
    ``Run(repo=tmp)``, N x ``run.track(v, name="loss", context={"subset": "train"})``, then
    ``close()``, all inside the timer. Floor and track alternate 5 times each, on the same
    pre-generated values (a noisy decaying loss curve of Python floats); reports the median of
    each and ``ratio_to_floor`` = median track events/s / median floor events/s.
    Target: ratio_to_floor >= 0.75.
``async_track_throughput``
    The same on ``AsyncRun``: ``async with AsyncRun(repo=tmp) as run:`` then N x
    ``await run.track(v, name="loss", context={"subset": "train"})``, the open and the close
    (``__aexit__``) inside the timer, the event loop's own start-up outside it. One line per
    anyio backend (asyncio, and trio when it is installed: ``"skipped"`` otherwise), on the same
    values. Each round runs the floor, then a sync ``Run`` track run and one async run per
    backend (their order rotated from round to round), 5 rounds, so ``ratio_to_sync`` =
    median async events/s / median sync events/s compares runs made side by side in this
    process; ``ratio_to_floor`` uses the same floor as ``track_throughput``.
    Target: ratio_to_sync >= 0.7. ``--profile-async asyncio|trio`` adds one cProfile'd async
    run after the timed rounds and prints where its time went to stderr (not timed, not emitted).
``capture_overhead``
    ``track`` end to end (as ``track_throughput``) with what a run captures by default (system
    tracking every 10 s, terminal capture on, which also records this benchmark's own log lines
    on stderr) against both turned off (``system_tracking_interval=None,
    capture_terminal_logs=False``), alternating 9 rounds, on the same values; reports
    ``ratio`` = median events/s with capture / without. Target: ratio >= 0.95 (at most 5%
    slower).
``s3_transfer``
    A repository of ``--mgmt-runs`` runs (1,000; two params and 5 points each), uploaded with
    ``Repo.upload`` to a moto S3 server on 127.0.0.1 (started in this process; skipped when moto
    or boto3 is missing): seconds and MB/s of the first upload, seconds of a second (no-op)
    upload, and seconds and MB/s of ``Repo.download`` into an empty directory. No target: the
    server is an in-process emulator, so the numbers show our overhead per segment more than
    network speed.
``bytes_per_event``
    Total segment bytes of a tracked run / N (the floor's file size / N alongside, as
    ``ratio_to_floor``). Target: <= 12 bytes/event.
``peak_rss``
    In a fresh subprocess: ``import aim``, create the Run, take the RSS baseline, then track
    ``--rss-events`` events and close. Peak RSS growth over the baseline (the larger of a
    psutil poll every 5 ms and ``ru_maxrss``), plus events/s.
    Target: growth < 100 MiB for 10M events.
``export_rss``
    ``aim runs export HASH --output FILE`` (CSV) of a run of ``--rss-events`` metric events (the
    run ``peak_rss`` made, or one made the same way), timed as a whole subprocess; its peak RSS
    (``VmHWM``, polled every 10 ms), rows/s. Target: peak RSS < 200 MiB for 10M events (memory
    must not grow with the run's length).
``run_create_close``
    ``Run(repo=...)`` + ``run["hparams"] = {10 hparams}`` + ``close()``, timed per run
    (after a few warm-up runs); mean and p95 ms. Target: mean < 5 ms.
``runs_ls``
    Repositories of ``--runs`` runs and of ``--small-runs`` runs (each made with the SDK: two
    params and one metric point). ``aim runs ls --repo PATH`` timed as a whole subprocess:
    the first call, then best and median of 3. Target: median < 1 s for 10,000 runs,
    < 0.3 s for 500.
``ls_imports``
    ``python -X importtime -m aim runs ls`` on the small repository: whether boto3, psutil or
    pynvml were imported (none should be), and how many modules were.
``delete_runs_cli``
    A repository of ``--mgmt-runs`` runs (1,000; each made with the SDK: two params and 5
    metric points). ``python -m aim runs rm '*' -y --repo PATH`` timed as a whole subprocess;
    seconds and runs/s. No target: reported for tracking.
``prune_runs``
    Then ``python -m aim storage prune --json --repo PATH`` on those deleted runs, timed as a
    whole subprocess; seconds, runs/s and the bytes freed (from the ``--json`` report). The
    runs are deleted first (by the same ``aim runs rm``) when ``delete_runs_cli`` is not
    selected.
``copy_runs``
    On the same repository before the delete: ``Repo(src).copy_runs(all hashes, dest)`` (open
    included, destination an existing repo on the same filesystem, so segments are hard-linked);
    seconds, ms per run and how many segments came across as hard links.
The read benchmarks (``read_iter_runs``, ``read_iter_runs_100k``, ``read_open_big_run``,
``read_get_metric``) are described in ``tools/bench_reads.py``, those of ``aim up``
(``ui_runs_page``, ``ui_series``, ``ui_live_latency``, ``ui_server_rss``) in ``tools/bench_ui.py``,
those of tracked objects (``objects_images``, ``objects_histograms``) in ``tools/bench_objects.py``,
those of runs with several writers (``dist_writers``, ``dist_visibility``) in
``tools/bench_distributed.py``, that of forks (``fork_disk``) in ``tools/bench_fork.py``, those of
the importers (``convert_tensorboard``, ``convert_aim3``) in ``tools/bench_convert.py``.

``delete_cost_vs_size``
    Two closed runs, of 1,000 and ``--big-run-events`` (1,000,000) metric events, in one repo.
    Per round: ``Repo(p)`` with its index opened (untimed), ``delete_run(h)`` timed, then
    ``restore_run(h)`` (untimed); 11 rounds per run after one warm-up. Reports the median delete
    ms of each and ``ratio`` = big / small (and the same for the best times), plus how many times
    the log was replayed during the timed deletes. Target: ratio <= 2 and no replay (a delete is
    one event appended in a new segment: its cost should not grow with the run's length; it is
    includes one fsync, so single samples are noisy).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import math
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ALL = (
    "raw_floor", "track_throughput", "async_track_throughput", "capture_overhead", "s3_transfer",
    "bytes_per_event", "peak_rss", "export_rss",
    "run_create_close",
    "runs_ls", "ls_imports", "delete_runs_cli", "prune_runs", "copy_runs", "delete_cost_vs_size",
    # tools/bench_reads.py
    "read_iter_runs", "read_iter_runs_100k", "read_open_big_run", "read_get_metric",
    # tools/bench_ui.py
    "ui_runs_page", "ui_series", "ui_live_latency", "ui_server_rss",
    # tools/bench_objects.py
    "objects_images", "objects_histograms",
    # tools/bench_distributed.py
    "dist_writers", "dist_visibility",
    # tools/bench_fork.py
    "fork_disk",
    # tools/bench_convert.py
    "convert_tensorboard", "convert_aim3",
)
# (prefix of their names, module under tools/ with run(args, tmp, only, emit, log))
SUITES = (("read_", "bench_reads"), ("ui_", "bench_ui"), ("objects_", "bench_objects"),
          ("dist_", "bench_distributed"), ("fork_", "bench_fork"), ("convert_", "bench_convert"))
BATCH = 20_000
ROUNDS = 5  # floor, sync and async runs alternate this many times; medians are reported
CAPTURE_ROUNDS = 9  # capture on/off pairs: the effect measured (~0) is well below the noise
CONTEXT = {"subset": "train"}
MIB = 1024 * 1024

TARGET_TRACK_RATIO = 0.75
TARGET_ASYNC_TO_SYNC_RATIO = 0.7
ASYNC_BACKENDS = ("asyncio", "trio")
TARGET_RSS_MIB = 100.0
TARGET_BYTES_PER_EVENT = 12.0
TARGET_CREATE_CLOSE_MS = 5.0
TARGET_LS_10K_S = 1.0
TARGET_LS_500_S = 0.3
TARGET_DELETE_SIZE_RATIO = 2.0

HPARAMS = {
    "lr": 3e-4, "batch_size": 64, "optimizer": "adamw", "momentum": 0.9, "weight_decay": 0.01,
    "epochs": 30, "dropout": 0.1, "seed": 1234, "warmup_steps": 500, "scheduler": "cosine",
}


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def loss_curve(n: int, seed: int = 0) -> list[float]:
    """A noisy decaying loss curve, as Python floats."""
    rnd = random.Random(seed)
    return [math.exp(-i / 2e5) + 0.01 * rnd.random() for i in range(n)]


def segment_bytes(repo_path: str, run_hash: str) -> int:
    from aim import Repo

    return sum(p.stat().st_size for p in Repo(repo_path).layout.segment_paths(run_hash))


def r(x: float, nd: int = 3) -> float:
    return round(x, nd)


# --- 1-3: floor, track, bytes --------------------------------------------------------------------

def raw_floor(values: list[float], path: str) -> float:
    """Seconds to encode, compress and write ``values`` as metric events the plain way."""
    import orjson

    from aim.storage.frames import new_compressor

    dumps, now_ns = orjson.dumps, time.time_ns
    ctx = orjson.Fragment(orjson.dumps(CONTEXT, option=orjson.OPT_SORT_KEYS))
    join, split = b'},{"seq":', b'}\n{"seq":'
    comp = new_compressor()
    n = len(values)
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
    try:
        for start in range(0, n, BATCH):
            batch = [
                # The same dict the library builds: "epoch" is left out when there is none.
                {"seq": i + 1, "ts": now_ns() // 1_000_000 / 1000, "type": "metric", "name": "loss",
                 "context": ctx, "step": i, "value": values[i]}
                for i in range(start, min(start + BATCH, n))
            ]
            # One dumps of the list, cut into lines: the cheapest way found (about twice as
            # fast as a dumps per event). No name or context here can hold the join bytes.
            data = dumps(batch)[1:-1].replace(join, split) + b"\n"
            frame = comp.compress(data)
            view = memoryview(frame)
            while view:
                view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - t0


def track_run(values: list[float], repo: str, **run_args: Any) -> tuple[float, str]:
    """Seconds for Run() + track every value + close(); and the run's hash."""
    from aim import Run

    t0 = time.perf_counter()
    run = Run(repo=repo, **run_args)
    track = run.track
    for v in values:
        track(v, name="loss", context={"subset": "train"})
    run.close()
    return time.perf_counter() - t0, run.hash


async def _async_track(values: list[float], repo: str) -> tuple[float, str]:
    from aim.sdk.async_run import AsyncRun

    t0 = time.perf_counter()
    async with AsyncRun(repo=repo) as run:
        track = run.track
        for v in values:
            await track(v, name="loss", context={"subset": "train"})
    return time.perf_counter() - t0, run.hash


def async_track_run(values: list[float], repo: str, backend: str) -> tuple[float, str]:
    """Seconds for AsyncRun() open + await track every value + close, on ``backend``; and the
    run's hash. The event loop is started (and torn down) outside the timer."""
    import anyio

    return anyio.run(_async_track, values, repo, backend=backend)


def async_backends() -> dict[str, str | None]:
    """Each anyio backend mapped to None when usable, else to why it is skipped."""
    import importlib.util

    out: dict[str, str | None] = {}
    for backend in ASYNC_BACKENDS:
        out[backend] = None if importlib.util.find_spec(backend) else f"{backend} is not installed"
    return out


def profile_async(values: list[float], repo: str, backend: str, top: int = 25) -> None:
    """One cProfile'd async run: print the top functions and the time per area to stderr.

    cProfile sees only the loop's thread; the writes run in the run's flush thread, so
    ``BatchWriter.write`` is wrapped (in this process only) to time them apart.
    """
    import cProfile
    import io
    import pstats

    from aim.sdk.flush_thread import BatchWriter

    worker = {"calls": 0, "seconds": 0.0}
    real_write = BatchWriter.write

    def timed_write(self: Any, *a: Any) -> int:
        t0 = time.perf_counter()
        try:
            return real_write(self, *a)
        finally:
            worker["calls"] += 1
            worker["seconds"] += time.perf_counter() - t0

    gc.collect()
    BatchWriter.write = timed_write  # type: ignore[method-assign]
    prof = cProfile.Profile()
    try:
        prof.enable()
        secs, _ = async_track_run(values, repo, backend)
        prof.disable()
    finally:
        BatchWriter.write = real_write  # type: ignore[method-assign]
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(top)
    # Areas of the loop's thread: the largest cumulative time of the entry points (coroutine
    # times count only while they run, not while suspended), and the calls made.
    areas = {
        "AsyncRun.track (whole)": ("async_run.py", ("track",)),
        "RunBase.track (the shared hot path)": ("run_base.py", ("track",)),
        "anyio checkpoints": ("anyio", ("checkpoint",)),
        "to_thread handoffs (loop side)": ("anyio", ("run_sync", "run_sync_in_worker_thread")),
        "encoding batches (loop side)": ("run_state.py", ("encode_batch",)),
        "close (loop side)": ("async_run.py", ("_aclose",)),
    }
    lines = []
    raw = stats.stats  # type: ignore[attr-defined]
    for area, (where, names) in areas.items():
        calls, cum = 0, 0.0
        for (filename, _line, func), (_cc, nc, _tt, ct, _callers) in raw.items():
            if func in names and where in filename:
                calls += nc
                cum = max(cum, ct)
        lines.append(f"  {area}: {cum:.3f} s cumulative, {calls:,} calls")
    log(f"profile ({backend}): {len(values) / secs:,.0f} events/s under cProfile ({secs:.2f} s)")
    for line in lines:
        log(line)
    log(f"  writes in the flush thread (compress + write, encode on the age trigger): "
        f"{worker['seconds']:.3f} s wall over {worker['calls']} batches")
    print(buf.getvalue(), file=sys.stderr, flush=True)


def bench_throughput(args: argparse.Namespace, tmp: Path, only: set[str]) -> None:
    n = args.events
    log(f"generating {n:,} values")
    values = loss_curve(n)
    repo = str(tmp / "track")
    want_async = "async_track_throughput" in only
    want_track = bool(only & {"track_throughput", "bytes_per_event"}) or want_async
    backends = async_backends() if want_async else {}
    usable = [b for b, why in backends.items() if why is None]
    floor_s: list[float] = []
    track_s: list[float] = []
    async_s: dict[str, list[float]] = {b: [] for b in usable}
    async_hashes: dict[str, list[str]] = {b: [] for b in usable}
    hashes: list[str] = []
    floor_bytes = 0
    for i in range(ROUNDS):
        path = tmp / f"floor-{i}.jsonl.zst"
        gc.collect()
        floor_s.append(raw_floor(values, str(path)))
        floor_bytes = path.stat().st_size
        path.unlink()
        log(f"round {i + 1}/{ROUNDS} floor: {n / floor_s[-1]:,.0f} events/s")
        if not want_track:
            continue
        # Sync and async runs alternate; their order rotates so none always goes first.
        kinds = ["sync", *usable]
        kinds = kinds[i % len(kinds):] + kinds[:i % len(kinds)]
        for kind in kinds:
            gc.collect()
            if kind == "sync":
                secs, h = track_run(values, repo)
                track_s.append(secs)
                hashes.append(h)
                log(f"round {i + 1}/{ROUNDS} track: {n / secs:,.0f} events/s")
            else:
                secs, h = async_track_run(values, repo, kind)
                async_s[kind].append(secs)
                async_hashes[kind].append(h)
                log(f"round {i + 1}/{ROUNDS} async track ({kind}): {n / secs:,.0f} events/s")
    floor_eps = n / statistics.median(floor_s)
    if "raw_floor" in only:
        emit({"bench": "raw_floor", "events": n, "events_per_s": round(floor_eps),
              "runs_events_per_s": [round(n / s) for s in floor_s],
              "bytes_per_event": r(floor_bytes / n)})
    if not want_track:
        return
    track_eps = n / statistics.median(track_s)
    if "track_throughput" in only:
        ratio = track_eps / floor_eps
        emit({"bench": "track_throughput", "events": n, "events_per_s": round(track_eps),
              "runs_events_per_s": [round(n / s) for s in track_s],
              "floor_events_per_s": round(floor_eps), "ratio_to_floor": r(ratio),
              "target_ratio_min": TARGET_TRACK_RATIO, "ok": ratio >= TARGET_TRACK_RATIO})
    for backend, why in backends.items():
        if why is not None:
            emit({"bench": "async_track_throughput", "backend": backend, "skipped": why, "ok": True})
            continue
        async_eps = n / statistics.median(async_s[backend])
        to_sync = async_eps / track_eps
        emit({"bench": "async_track_throughput", "backend": backend, "events": n,
              "events_per_s": round(async_eps),
              "runs_events_per_s": [round(n / s) for s in async_s[backend]],
              "sync_events_per_s": round(track_eps), "ratio_to_sync": r(to_sync),
              "floor_events_per_s": round(floor_eps), "ratio_to_floor": r(async_eps / floor_eps),
              "bytes_per_event": r(segment_bytes(repo, async_hashes[backend][0]) / n),
              "target_ratio_to_sync_min": TARGET_ASYNC_TO_SYNC_RATIO,
              "ok": to_sync >= TARGET_ASYNC_TO_SYNC_RATIO})
    if args.profile_async:
        profile_async(values, repo, args.profile_async)
    if "bytes_per_event" in only:
        per_run = [segment_bytes(repo, h) / n for h in hashes]
        bpe = statistics.median(per_run)
        emit({"bench": "bytes_per_event", "events": n, "bytes_per_event": r(bpe),
              "total_bytes": segment_bytes(repo, hashes[0]),
              "floor_bytes_per_event": r(floor_bytes / n),
              "ratio_to_floor": r(bpe / (floor_bytes / n)),
              "target_bytes_per_event_max": TARGET_BYTES_PER_EVENT,
              "ok": bpe <= TARGET_BYTES_PER_EVENT})


# --- 4: peak RSS (child process) ---------------------------------------------------------------

def rss_child(n: int, repo: str) -> None:
    """Runs in a fresh interpreter: print one JSON line with RSS growth and events/s."""
    import psutil

    import aim
    from aim import Run

    assert aim.__version__
    proc = psutil.Process()
    cycle = loss_curve(min(n, 1 << 20), seed=1)
    m = len(cycle)
    run = Run(repo=repo)
    gc.collect()
    baseline = proc.memory_info().rss
    peak = [baseline]
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(0.005):
            rss = proc.memory_info().rss
            if rss > peak[0]:
                peak[0] = rss

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    track = run.track
    t0 = time.perf_counter()
    for i in range(n):
        track(cycle[i % m], name="loss", context={"subset": "train"})
    run.close()
    secs = time.perf_counter() - t0
    stop.set()
    poller.join()
    after = proc.memory_info().rss
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    growth = max(peak[0], maxrss) - baseline
    print(json.dumps({
        "events": n, "events_per_s": round(n / secs), "seconds": r(secs, 2),
        "baseline_rss_mib": r(baseline / MIB, 1),
        "peak_rss_growth_mib": r(growth / MIB, 1),
        "polled_growth_mib": r((peak[0] - baseline) / MIB, 1),
        "ru_maxrss_growth_mib": r((maxrss - baseline) / MIB, 1),
        "rss_after_close_growth_mib": r((after - baseline) / MIB, 1),
        "bytes_per_event": r(segment_bytes(repo, run.hash) / n),
    }), flush=True)


def bench_rss(args: argparse.Namespace, tmp: Path) -> None:
    n = args.rss_events
    log(f"peak_rss: tracking {n:,} events in a subprocess")
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--rss-child", str(n), "--child-repo",
         str(tmp / "rss")],
        stdout=subprocess.PIPE, text=True, check=True,
    ).stdout
    rec = json.loads(out.strip().splitlines()[-1])
    # The target is stated for 10M events; memory should not grow with N, so it applies as is.
    emit({"bench": "peak_rss", **rec, "target_growth_mib_max": TARGET_RSS_MIB,
          "ok": rec["peak_rss_growth_mib"] < TARGET_RSS_MIB})


def bench_export(args: argparse.Namespace, tmp: Path) -> None:
    n = args.rss_events
    repo = tmp / "rss"
    runs = sorted((repo / ".aim" / "runs").glob("*")) if repo.exists() else []
    if not runs:
        log(f"export_rss: tracking {n:,} events in a subprocess first")
        subprocess.run([sys.executable, os.path.abspath(__file__), "--rss-child", str(n), "--child-repo",
                        str(repo)], stdout=subprocess.PIPE, check=True)
        runs = sorted((repo / ".aim" / "runs").glob("*"))
    run_hash = runs[0].name
    out = tmp / "export.csv"
    log(f"export_rss: exporting {n:,} events")
    t0 = time.perf_counter()
    proc = subprocess.Popen([*aim_command(), "runs", "export", run_hash, "--output", str(out),
                             "--repo", str(repo)])
    peak_kib = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kib = max(peak_kib, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        emit({"bench": "export_rss", "error": f"export exited {proc.returncode}"})
        return
    with open(out, "rb") as f:
        rows = sum(1 for _ in f) - 1
    peak = peak_kib / 1024
    emit({"bench": "export_rss", "events": n, "rows": rows, "seconds": r(secs),
          "rows_per_s": round(rows / secs), "peak_rss_mib": r(peak), "target_mib_max": 200.0,
          "ok": peak < 200.0 and rows >= n})  # (plus a few system-metric rows)


# --- 5: run create + params + close ------------------------------------------------------------

def bench_create_close(args: argparse.Namespace, tmp: Path) -> None:
    from aim import Run

    repo = str(tmp / "lifecycle")
    n, warm = args.lifecycle_runs, 5
    total: list[float] = []
    parts: dict[str, list[float]] = {"create": [], "params": [], "close": []}
    for i in range(n + warm):
        t0 = time.perf_counter()
        run = Run(repo=repo)
        t1 = time.perf_counter()
        run["hparams"] = dict(HPARAMS, seed=i)
        t2 = time.perf_counter()
        run.close()
        t3 = time.perf_counter()
        if i >= warm:
            total.append((t3 - t0) * 1e3)
            parts["create"].append((t1 - t0) * 1e3)
            parts["params"].append((t2 - t1) * 1e3)
            parts["close"].append((t3 - t2) * 1e3)
    total.sort()
    mean = statistics.fmean(total)
    emit({"bench": "run_create_close", "runs": n, "mean_ms": r(mean),
          "p95_ms": r(total[min(n - 1, int(0.95 * n))]), "median_ms": r(statistics.median(total)),
          **{f"{k}_mean_ms": r(statistics.fmean(v)) for k, v in parts.items()},
          "target_mean_ms_max": TARGET_CREATE_CLOSE_MS, "ok": mean < TARGET_CREATE_CLOSE_MS})


# --- 6: aim runs ls ----------------------------------------------------------------------------

def build_repo(path: str, n: int, points: int = 1) -> None:
    from aim import Run

    log(f"building a repo of {n:,} runs at {path}")
    t0 = time.perf_counter()
    for i in range(n):
        run = Run(repo=path)
        run["hparams"] = {"lr": 10 ** -(1 + i % 4), "batch_size": 2 ** (4 + i % 4)}
        for step in range(points):
            run.track(1.0 / (i + step + 1), name="loss")
        run.close()
        if (i + 1) % 1000 == 0:
            log(f"  {i + 1:,}/{n:,} runs ({time.perf_counter() - t0:.0f} s)")
    log(f"  built {n:,} runs in {time.perf_counter() - t0:.1f} s")


def aim_command() -> list[str]:
    script = Path(sys.executable).parent / "aim"
    return [str(script)] if script.exists() else [sys.executable, "-m", "aim"]


def time_ls(path: str, n: int) -> float:
    t0 = time.perf_counter()
    res = subprocess.run([*aim_command(), "runs", "ls", "--repo", path], capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if res.returncode != 0 or f"{n} run" not in res.stderr:
        raise RuntimeError(f"aim runs ls failed (rc={res.returncode}): {res.stderr[-2000:]}")
    return secs


def bench_ls(path: str, n: int, target: float) -> None:
    first = time_ls(path, n)
    times = sorted(time_ls(path, n) for _ in range(3))
    med = statistics.median(times)
    emit({"bench": "runs_ls", "runs": n, "best_s": r(times[0]), "median_s": r(med),
          "first_s": r(first), "target_median_s_max": target, "ok": med < target})


def bench_ls_imports(path: str) -> None:
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "aim", "runs", "ls", "--repo", path],
        capture_output=True, text=True, check=True,
    )
    modules = []
    for line in res.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                modules.append(name)
    top = {m.split(".")[0] for m in modules}
    heavy = sorted(t for t in top if t in {"numpy", "anyio", "trio", "sqlite3", "zstandard", "orjson"})
    emit({"bench": "ls_imports", "imported_boto3": "boto3" in top, "imported_psutil": "psutil" in top,
          "imported_pynvml": "pynvml" in top, "modules_imported": len(modules),
          "notable_imports": heavy,
          "ok": not ({"boto3", "psutil", "pynvml"} & top)})


# --- 8: run management: rm, prune, copy, delete cost -------------------------------------------

def aim_module(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run ``python -m aim ARGS``; return its wall seconds and the finished process."""
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "aim", *args], capture_output=True, text=True)
    secs = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"aim {' '.join(args)} failed (rc={res.returncode}): {res.stderr[-2000:]}")
    return secs, res


def bench_copy(src: str, dest: str, n: int) -> None:
    from aim import Repo

    probe = Repo(src)
    hashes = probe.list_all_runs()
    probe.close()
    assert len(hashes) == n, (len(hashes), n)
    Repo(dest, init=True).close()
    gc.collect()
    t0 = time.perf_counter()
    src_repo = Repo(src)
    ok, failed = src_repo.copy_runs(hashes, dest)
    secs = time.perf_counter() - t0
    src_repo.close()
    if not ok:
        raise RuntimeError(f"copy_runs failed for {len(failed)} run(s), e.g. {failed[:3]}")
    dest_repo = Repo(dest)
    copied = len(dest_repo.list_all_runs())
    segments = [p for h in hashes for p in dest_repo.layout.segment_paths(h)]
    linked = sum(p.stat().st_nlink > 1 for p in segments)
    dest_repo.close()
    emit({"bench": "copy_runs", "runs": n, "seconds": r(secs), "ms_per_run": r(secs / n * 1e3),
          "seconds_per_run": r(secs / n, 6), "runs_per_s": round(n / secs), "runs_in_dest": copied,
          "segments": len(segments), "segments_hard_linked": linked, "ok": copied == n})


def bench_rm_prune(path: str, n: int, only: set[str]) -> None:
    secs, res = aim_module("runs", "rm", "*", "-y", "--repo", path)
    if f"deleted {n} runs" not in res.stderr:
        raise RuntimeError(f"aim runs rm did not delete {n} runs: {res.stderr[-2000:]}")
    if "delete_runs_cli" in only:
        emit({"bench": "delete_runs_cli", "runs": n, "seconds": r(secs), "runs_per_s": round(n / secs),
              "ms_per_run": r(secs / n * 1e3), "ok": True})
    if "prune_runs" not in only:
        return
    from aim import Repo

    runs_dir = Repo(path).layout.runs  # the run directories only: the index's WAL comes and goes

    def runs_bytes() -> int:
        return sum(f.stat().st_size for f in runs_dir.rglob("*") if f.is_file())

    before = runs_bytes()
    secs, res = aim_module("storage", "prune", "--json", "--repo", path)
    rep = json.loads(res.stdout.strip().splitlines()[-1])
    after = runs_bytes()
    emit({"bench": "prune_runs", "runs": rep["runs"], "seconds": r(secs),
          "runs_per_s": round(rep["runs"] / secs), "ms_per_run": r(secs / max(rep["runs"], 1) * 1e3),
          "bytes_freed": rep["bytes"], "run_dirs_bytes_before": before, "run_dirs_bytes_after": after,
          "param_keys_dropped": len(rep["param_keys"]), "names_dropped": len(rep["names"]),
          "ok": rep["runs"] == n and not rep["skipped"]})


def bench_delete_cost(args: argparse.Namespace, tmp: Path) -> None:
    from aim import Repo, Run

    path = str(tmp / "delete-cost")
    sizes = {"small": 1_000, "big": args.big_run_events}
    hashes: dict[str, str] = {}
    for label, n in sizes.items():
        log(f"delete_cost_vs_size: tracking a run of {n:,} events")
        values = loss_curve(n, seed=2)
        run = Run(repo=path)
        track = run.track
        for v in values:
            track(v, name="loss", context={"subset": "train"})
        run.close()
        hashes[label] = run.hash
    from aim.sdk import indexer

    # A delete must not replay the log (that is what would make it O(run length)): count the
    # replays made during the timed deletes, a check that no noisy fsync can blur.
    replays = [0]
    real_replay = indexer.replay_run

    def counting_replay(*a: Any, **kw: Any) -> Any:
        replays[0] += 1
        return real_replay(*a, **kw)

    rounds, warm = 11, 1
    times: dict[str, list[float]] = {k: [] for k in sizes}
    open_ms: dict[str, list[float]] = {k: [] for k in sizes}
    for i in range(rounds + warm):
        for label, h in hashes.items():  # interleaved, so drift hits both alike
            gc.collect()
            t0 = time.perf_counter()
            repo = Repo(path)
            _ = repo.index  # open + heal, timed apart from the delete
            indexer.replay_run = counting_replay  # type: ignore[assignment]
            t1 = time.perf_counter()
            ok = repo.delete_run(h)
            t2 = time.perf_counter()
            indexer.replay_run = real_replay  # type: ignore[assignment]
            if not ok or not repo.restore_run(h):
                raise RuntimeError(f"delete/restore of {h} failed")
            repo.close()
            if i >= warm:
                times[label].append((t2 - t1) * 1e3)
                open_ms[label].append((t1 - t0) * 1e3)
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    ratio = med["big"] / med["small"]
    emit({"bench": "delete_cost_vs_size", "small_events": sizes["small"], "big_events": sizes["big"],
          "small_delete_ms": r(med["small"]), "big_delete_ms": r(med["big"]), "ratio": r(ratio),
          "small_best_ms": r(best["small"]), "big_best_ms": r(best["big"]),
          "ratio_of_best": r(best["big"] / best["small"]), "replays_during_deletes": replays[0],
          "small_deletes_ms": [r(x) for x in times["small"]],
          "big_deletes_ms": [r(x) for x in times["big"]],
          "small_open_ms": r(statistics.median(open_ms["small"])),
          "big_open_ms": r(statistics.median(open_ms["big"])),
          "big_segment_bytes": segment_bytes(path, hashes["big"]),
          "target_ratio_max": TARGET_DELETE_SIZE_RATIO,
          "ok": ratio <= TARGET_DELETE_SIZE_RATIO and replays[0] == 0})


# --- main --------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=None, help="events for floor/track (1,000,000)")
    p.add_argument("--rss-events", type=int, default=None, help="events for peak_rss (10,000,000)")
    p.add_argument("--runs", type=int, default=None, help="runs in the big ls repo (10,000)")
    p.add_argument("--small-runs", type=int, default=None, help="runs in the small ls repo (500)")
    p.add_argument("--lifecycle-runs", type=int, default=None, help="runs for run_create_close (200)")
    p.add_argument("--mgmt-runs", type=int, default=None,
                   help="runs for delete_runs_cli, prune_runs, copy_runs (1,000)")
    p.add_argument("--big-run-events", type=int, default=None,
                   help="events in the big run of delete_cost_vs_size (1,000,000)")
    p.add_argument("--list-runs", type=int, default=None,
                   help="runs in the listing of read_iter_runs_100k (100,000)")
    p.add_argument("--ui-series-runs", type=int, default=None, help="runs in ui_series (100)")
    p.add_argument("--ui-series-steps", type=int, default=None, help="steps per run in ui_series (100,000)")
    p.add_argument("--object-images", type=int, default=None, help="images in objects_images (2,000)")
    p.add_argument("--object-histograms", type=int, default=None,
                   help="histograms in objects_histograms (5,000)")
    p.add_argument("--dist-events", type=int, default=None,
                   help="events in all per round of dist_writers (400,000)")
    p.add_argument("--dist-rounds", type=int, default=None, help="rounds of dist_writers (3)")
    p.add_argument("--fork-events", type=int, default=None,
                   help="events in the big run of fork_disk (1,000,000)")
    p.add_argument("--convert-points", type=int, default=None,
                   help="points in each convert_* source (200,000)")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run in ~30 s")
    p.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    p.add_argument("--tmpdir", default=None, help="where to make the temporary directory")
    p.add_argument("--profile-async", choices=ASYNC_BACKENDS, default=None,
                   help="with async_track_throughput: one extra cProfile'd async run, to stderr")
    p.add_argument("--rss-child", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--child-repo", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sizes = (
        {"events": 100_000, "rss_events": 300_000, "runs": 300, "small_runs": 100, "lifecycle_runs": 30,
         "mgmt_runs": 1_000, "big_run_events": 1_000_000, "list_runs": 10_000,
         "ui_series_runs": 10, "ui_series_steps": 10_000, "object_images": 200, "object_histograms": 500,
         "dist_events": 80_000, "dist_rounds": 1, "fork_events": 100_000,
         "convert_points": 20_000}
        if args.quick else
        {"events": 1_000_000, "rss_events": 10_000_000, "runs": 10_000, "small_runs": 500,
         "lifecycle_runs": 200, "mgmt_runs": 1_000, "big_run_events": 1_000_000, "list_runs": 100_000,
         "ui_series_runs": 100, "ui_series_steps": 100_000, "object_images": 2_000,
         "object_histograms": 5_000, "dist_events": 400_000, "dist_rounds": 3, "fork_events": 1_000_000,
         "convert_points": 200_000}
    )
    for key, default in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, default)
    return args


def bench_s3(args: argparse.Namespace, tmp: Path) -> None:
    """``s3_transfer``: upload, no-op re-upload and download against moto on loopback."""
    try:
        import boto3  # noqa: F401
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        emit({"bench": "s3_transfer", "skipped": f"needs moto and boto3 ({exc})"})
        return
    import logging

    from aim import Repo

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server's request log
    src, dst = str(tmp / "s3-src"), str(tmp / "s3-dst")
    build_repo(src, args.mgmt_runs, points=5)
    for k, v in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        os.environ.setdefault(k, v)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        t0 = time.perf_counter()
        up = Repo(src).upload("aim-bench", endpoint_url=url)
        up_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = Repo(src).upload("aim-bench", endpoint_url=url)
        noop_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        down = Repo(dst, init=True).download("aim-bench", endpoint_url=url)
        down_s = time.perf_counter() - t0
    finally:
        server.stop()
    mb = up.new_bytes / 1e6
    emit({"bench": "s3_transfer", "runs": args.mgmt_runs, "segments": up.new_segments,
          "mb": round(mb, 2), "upload_s": round(up_s, 2), "upload_mb_per_s": round(mb / up_s, 2),
          "upload_segments_per_s": round(up.new_segments / up_s, 1),
          "noop_upload_s": round(noop_s, 3), "noop_new_segments": again.new_segments,
          "download_s": round(down_s, 2), "download_mb_per_s": round(down.new_bytes / 1e6 / down_s, 2),
          "download_segments": down.new_segments})


def bench_capture(args: argparse.Namespace, tmp: Path) -> None:
    """``capture_overhead``: default capture on vs off, alternating, same values."""
    n = args.events
    values = loss_curve(n)
    repo = str(tmp / "capture-repo")
    on_s: list[float] = []
    off_s: list[float] = []
    for i in range(CAPTURE_ROUNDS):
        order = [True, False] if i % 2 == 0 else [False, True]
        for on in order:
            gc.collect()
            if on:
                secs, _ = track_run(values, repo)
                on_s.append(secs)
            else:
                secs, _ = track_run(values, repo, system_tracking_interval=None,
                                    capture_terminal_logs=False)
                off_s.append(secs)
            log(f"round {i + 1}/{CAPTURE_ROUNDS} capture {'on' if on else 'off'}: {n / secs:,.0f} events/s")
    on_eps, off_eps = n / statistics.median(on_s), n / statistics.median(off_s)
    ratio = on_eps / off_eps
    emit({"bench": "capture_overhead", "events": n, "with_capture_events_per_s": round(on_eps),
          "without_events_per_s": round(off_eps), "ratio": round(ratio, 3),
          "runs_with": [round(n / s) for s in on_s], "runs_without": [round(n / s) for s in off_s],
          "target_ratio_min": 0.95, "ok": ratio >= 0.95})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rss_child is not None:
        rss_child(args.rss_child, args.child_repo)
        return 0
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(ALL)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(ALL)}",
              file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="aim-bench-", dir=args.tmpdir))
    t_start = time.perf_counter()
    try:
        if only & {"raw_floor", "track_throughput", "async_track_throughput", "bytes_per_event"}:
            bench_throughput(args, tmp, only)
        if "capture_overhead" in only:
            bench_capture(args, tmp)
        if "s3_transfer" in only:
            bench_s3(args, tmp)
        if "peak_rss" in only:
            bench_rss(args, tmp)
        if "export_rss" in only:
            bench_export(args, tmp)
        if "run_create_close" in only:
            bench_create_close(args, tmp)
        if only & {"runs_ls", "ls_imports"}:
            small = str(tmp / "ls-small")
            build_repo(small, args.small_runs)
            if "runs_ls" in only:
                big = str(tmp / "ls-big")
                build_repo(big, args.runs)
                bench_ls(big, args.runs, TARGET_LS_10K_S)
                bench_ls(small, args.small_runs, TARGET_LS_500_S)
            if "ls_imports" in only:
                bench_ls_imports(small)
        if only & {"delete_runs_cli", "prune_runs", "copy_runs"}:
            mgmt = str(tmp / "mgmt")
            build_repo(mgmt, args.mgmt_runs, points=5)
            if "copy_runs" in only:
                bench_copy(mgmt, str(tmp / "mgmt-copy"), args.mgmt_runs)
                # Hard links share the source's inodes: drop the copy so that prune frees them.
                shutil.rmtree(tmp / "mgmt-copy", ignore_errors=True)
            if only & {"delete_runs_cli", "prune_runs"}:
                bench_rm_prune(mgmt, args.mgmt_runs, only)
        if "delete_cost_vs_size" in only:
            bench_delete_cost(args, tmp)
        # The suites in modules of their own, imported only when one of theirs is asked for.
        for prefix, module in SUITES:
            if any(name.startswith(prefix) for name in only):
                sys.path.insert(0, str(Path(__file__).resolve().parent))
                importlib.import_module(module).run(args, tmp, only, emit, log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"done in {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
