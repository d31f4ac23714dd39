"""Benchmarks of forks for ``tools/bench.py`` (issue 19).

``fork_disk``
    Two closed runs, of 10,000 and ``--fork-events`` (1,000,000) metric events, each forked
    at its middle step (``aim.sdk.fork.fork_run``). Reported per parent: its bytes, the
    fork's **own** bytes (files with one link: what the fork added to the disk; the parent's
    sealed segments are hard-linked), and the fork's time. Target: the fork of the big run
    adds at most twice what the fork of the small one adds (disk use independent of the
    parent's size), and under 64 KiB.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

QUIET: dict[str, Any] = {"system_tracking_interval": None, "capture_terminal_logs": False}
TARGET_RATIO = 2.0
TARGET_OWN_BYTES = 64 * 1024


def _sizes(run_dir: Path) -> tuple[int, int]:
    """(every file's bytes, the bytes of files with a single link) under ``run_dir``."""
    total = own = 0
    for root, _, files in os.walk(run_dir):
        for name in files:
            st = os.lstat(os.path.join(root, name))
            total += st.st_size
            own += st.st_size if st.st_nlink == 1 and name != "LOCK" else 0
    return total, own


def bench_fork_disk(tmp: Path, big: int, emit: Callable[[dict[str, Any]], None],
                    log: Callable[[str], None]) -> None:
    from aim import Repo, Run
    from aim.sdk.fork import fork_run

    repo_path = tmp / "fork"
    results = {}
    for events in (10_000, big):
        with Run(repo=repo_path, **QUIET) as run:  # type: ignore[arg-type]
            for i in range(events):
                run.track(i * 0.001, name="loss", step=i)
        repo = Repo(repo_path)
        t0 = time.perf_counter()
        child, _ = fork_run(repo, run.hash, events // 2, finished=True)
        seconds = time.perf_counter() - t0
        runs = repo.layout.runs
        parent_bytes = _sizes(runs / run.hash)[0]
        _, own = _sizes(runs / child)
        results[events] = own
        emit({"bench": "fork_disk", "parent_events": events, "parent_bytes": parent_bytes,
              "fork_own_bytes": own, "fork_seconds": round(seconds, 3)})
        log(f"fork_disk: a fork of a {events:,}-event run ({parent_bytes:,} bytes) adds {own:,} bytes "
            f"in {seconds:.2f} s")
        repo.close()
    ratio = results[big] / max(1, results[10_000])
    emit({"bench": "fork_disk", "own_bytes_ratio_big_to_small": round(ratio, 3),
          "target_ratio": TARGET_RATIO, "target_own_bytes": TARGET_OWN_BYTES,
          "ok": ratio <= TARGET_RATIO and results[big] <= TARGET_OWN_BYTES})


def run(args: Any, tmp: Path, only: set[str], emit: Callable[[dict[str, Any]], None],
        log: Callable[[str], None]) -> None:
    """The ``fork_*`` benchmarks selected in ``only``."""
    if "fork_disk" in only:
        bench_fork_disk(tmp, args.fork_events, emit, log)
