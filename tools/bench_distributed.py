"""Benchmarks of runs written by several processes for ``tools/bench.py`` (issue 18).

``dist_writers``
    Aggregate metric events/s of 1, 2, 4 and 8 writer processes (ranks of one job, torchrun's
    environment) tracking ``--dist-events`` events in all into **one run**, from a common start
    to the last ``flush()`` (every event in a frame on disk; the close after it is not timed,
    because a single writer's close also folds its series and a multi-writer's does not).
    Floor, measured in the same round: the same processes each writing a run of its own
    (nothing shared at all). Reported: events/s, the ratio to the floor, and the ratio to one
    writer (target: it does not fall as writers are added).
``dist_visibility``
    The delay from a write on one "machine" (a repository with a writer sealing a segment
    every second, shipped by ``aim runs upload --follow --interval 0.5`` to moto's S3 server on
    loopback) to its visibility on another (``aim runs download --follow --interval 0.5``),
    median and worst over ~12 s of writes. Target: within the segment's age plus the two
    rounds' intervals, plus a second.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WRITERS = (1, 2, 4, 8)
TARGET_SCALING = 0.9  # aggregate with n writers / with 1: must not fall (noise allowance)
SEGMENT_AGE, INTERVAL = 1.0, 0.5
QUIET = {"system_tracking_interval": None, "capture_terminal_logs": False}
_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "TORCHELASTIC_RUN_ID", "AIM_RUN_HASH")


def writer_child(repo: str, events: int, go: str) -> None:
    """One writer (``--dist-child``): open the run, wait for ``go`` to exist, track and flush
    (timed), close; print the start and end times as JSON."""
    from aim import Run

    run = Run(repo=repo, **QUIET)  # type: ignore[arg-type]
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    t0 = time.time()
    for i in range(events):
        run.track(i * 0.001, name="loss", step=i)
    run.flush()  # every event in a frame on disk: the write path, timed
    t1 = time.time()
    run.close()  # untimed: a single writer's close also folds its series (a multi-writer's not)
    print(json.dumps({"t0": t0, "t1": t1, "hash": run.hash}), flush=True)


def _round(tmp: Path, n: int, events: int, shared: bool, tag: str) -> float:
    """Events/s of ``n`` writers: ranks of one job (``shared``), or independent runs."""
    repo = tmp / f"{tag}-{n}-{'one' if shared else 'own'}"
    go = tmp / f"{repo.name}.go"
    procs = []
    job = f"bench-{tag}-{n}-{time.time_ns()}"
    for rank in range(n):
        env = {k: v for k, v in os.environ.items() if k not in _VARS}
        if shared and n > 1:
            env.update(WORLD_SIZE=str(n), RANK=str(rank), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(n),
                       TORCHELASTIC_RUN_ID=job)
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--dist-child", str(repo), str(events // n), str(go)],
            env=env, stdout=subprocess.PIPE, text=True))
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    go.touch()
    results = [json.loads(p.communicate()[0]) for p in procs]
    hashes = {r["hash"] for r in results}
    assert len(hashes) == (1 if shared else n), f"expected {'one run' if shared else 'a run each'}: {hashes}"
    return (events // n) * n / (max(r["t1"] for r in results) - min(r["t0"] for r in results))


def bench_writers(tmp: Path, events: int, rounds: int, emit: Callable[[dict[str, Any]], None],
                  log: Callable[[str], None]) -> None:
    one: dict[int, list[float]] = {n: [] for n in WRITERS}
    own: dict[int, list[float]] = {n: [] for n in WRITERS}
    for k in range(rounds):  # alternating, so that drift in the machine hits both alike
        for n in WRITERS:
            one[n].append(_round(tmp, n, events, True, f"r{k}"))
            own[n].append(_round(tmp, n, events, False, f"r{k}"))
    base = statistics.median(one[1])
    for n in WRITERS:
        agg, floor = statistics.median(one[n]), statistics.median(own[n])
        record = {"bench": "dist_writers", "writers": n, "events": events, "events_per_s": round(agg),
                  "floor_events_per_s": round(floor), "ratio_to_floor": round(agg / floor, 3),
                  "ratio_to_one_writer": round(agg / base, 3), "target_ratio_to_one_writer": TARGET_SCALING,
                  "ok": agg / base >= TARGET_SCALING, "cpus": os.cpu_count()}
        emit(record)
        log(f"dist_writers n={n}: {agg:,.0f} events/s into one run, {floor:,.0f} into own runs "
            f"(x{agg / floor:.2f}); x{agg / base:.2f} of one writer")


def visibility_child(repo: str, seconds: float) -> None:
    """A writer (``--dist-visibility-child``) that tracks its wall time as the value, 50 a second."""
    from aim import Run

    run = Run(repo=repo, segment_max_age=SEGMENT_AGE, flush_interval=0.1, **QUIET)  # type: ignore[arg-type]
    print(run.hash, flush=True)
    end = time.time() + seconds
    while time.time() < end:
        run.track(time.time(), name="written_at")
        time.sleep(0.02)
    run.close()


def bench_visibility(tmp: Path, emit: Callable[[dict[str, Any]], None], log: Callable[[str], None]) -> None:
    from moto.server import ThreadedMotoServer

    from aim.sdk.log import iter_segment_events
    from aim.storage.layout import RepoLayout, resolve_aim_dir

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    writer_repo, reader_repo = tmp / "vis-writer", tmp / "vis-reader"
    seconds = 12.0
    writer = subprocess.Popen([sys.executable, __file__, "--dist-visibility-child", str(writer_repo),
                               str(seconds)], env=env, stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    run_hash = writer.stdout.readline().strip()
    aim = [sys.executable, "-m", "aim", "runs"]
    common = ["bench-vis", "--endpoint-url", endpoint, "--follow", "--interval", str(INTERVAL)]
    syncs = [subprocess.Popen([*aim, "upload", *common, "--repo", str(writer_repo)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen([*aim, "download", *common, "--repo", str(reader_repo)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    layout = RepoLayout(resolve_aim_dir(reader_repo))
    delays: list[float] = []
    seen: set[str] = set()
    try:
        end = time.time() + seconds + SEGMENT_AGE + 2 * INTERVAL + 5
        while time.time() < end:
            now = time.time()
            paths = layout.segment_paths(run_hash) if layout.run_dir(run_hash).is_dir() else []
            for path in paths:
                if path.name in seen:
                    continue
                seen.add(path.name)
                delays += [now - e["value"] for e in iter_segment_events(path) if e.get("type") == "metric"]
            time.sleep(0.05)
    finally:
        writer.wait()
        for p in syncs:
            p.terminate()
            p.wait()
        server.stop()
    bound = SEGMENT_AGE + 2 * INTERVAL + 1.0
    median, worst = statistics.median(delays), max(delays)
    emit({"bench": "dist_visibility", "points": len(delays), "median_s": round(median, 2),
          "max_s": round(worst, 2), "segment_age_s": SEGMENT_AGE, "interval_s": INTERVAL,
          "target_max_s": bound, "ok": worst <= bound})
    log(f"dist_visibility: {len(delays)} writes seen by the reader {median:.2f} s after they were "
        f"made (median), {worst:.2f} s at worst (bound {bound:.1f} s)")


def run(args: Any, tmp: Path, only: set[str], emit: Callable[[dict[str, Any]], None],
                      log: Callable[[str], None]) -> None:
    """The ``dist_*`` benchmarks selected in ``only``."""
    if "dist_writers" in only:
        bench_writers(tmp, args.dist_events, args.dist_rounds, emit, log)
    if "dist_visibility" in only:
        bench_visibility(tmp, emit, log)


if __name__ == "__main__":
    if sys.argv[1] == "--dist-child":
        writer_child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "--dist-visibility-child":
        visibility_child(sys.argv[2], float(sys.argv[3]))
