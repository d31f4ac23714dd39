#!/usr/bin/env python3
"""SIGKILL crash trials at scale: ``python tools/crashtest.py --trials 500 --repo-dir /tmp/x``.

Each trial starts ``tests/children/crash_child.py`` (a run tracking in bursts), kills it with
SIGKILL after a random short time (sometimes resumes it in a new child and kills that too),
optionally leaves a simulated torn write, then checks everything ``tests/crash/checks.py``
checks: nothing flushed is lost, seq is contiguous, values are intact, the run is listed as
crashed, resumes with its torn tail repaired, continues seq and steps, and reads back.

Prints one JSON line: trials, failures, the observed loss bound (events tracked but not on disk
at the kill, and the age of the oldest of them in seconds and in flush intervals), torn tails
seen and repaired (loss and torn-tail figures cover the trials that passed). Exit status 1 when
any trial failed, 0 otherwise. A trial whose loss window is longer than the flush interval plus
``--loss-slack`` seconds counts as failed. Failed trials' folders are kept for inspection.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def load_checks() -> ModuleType:
    """Import ``tests/crash/checks.py`` by path (``tests`` need not be importable)."""
    name = "aim_crash_checks"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "crash" / "checks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--repo-dir", type=Path, help="where trial folders go (default: a temp folder)")
    p.add_argument("--seed", type=int, default=0, help="trial i uses seed SEED + i")
    p.add_argument("--jobs", type=int, default=1, help="trials run at once")
    p.add_argument("--loss-slack", type=float, default=0.5,
                   help="seconds a kill may lose beyond the flush interval (default 0.5)")
    p.add_argument("--quick", action="store_true", help="no heavy trials, lower event rates")
    p.add_argument("--keep", action="store_true", help="keep passing trials' folders too")
    args = p.parse_args(argv)
    if args.trials < 1 or args.jobs < 1:
        p.error("--trials and --jobs must be >= 1")

    checks = load_checks()
    base = args.repo_dir or Path(tempfile.mkdtemp(prefix="aim-crashtest-"))
    base.mkdir(parents=True, exist_ok=True)
    totals: dict[str, Any] = {
        "trials": args.trials, "failures": 0, "kills": 0,
        "max_lost_events": 0, "max_lost_seconds": 0.0, "max_lost_flush_intervals": 0.0,
        "max_survived_beyond_watermark": 0, "loss_slack_s": args.loss_slack,
        "torn_tails_natural": 0, "torn_tails_injected": 0, "torn_tails_repaired": 0,
        "segments_removed": 0, "failed": [],
    }
    guard = threading.Lock()
    done = 0
    started = time.monotonic()

    def one(i: int) -> None:
        nonlocal done
        seed = args.seed + i
        cfg = checks.TrialConfig.random(seed, quick=args.quick)
        workdir = base / f"trial-{seed:06d}"
        if workdir.exists():
            shutil.rmtree(workdir)
        error: str | None = None
        result = None
        try:
            result = checks.run_trial(cfg, workdir, loss_slack=args.loss_slack)
        except checks.CrashCheckFailure as exc:
            error = str(exc)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        with guard:
            done += 1
            if error is not None:
                totals["failures"] += 1
                if len(totals["failed"]) < 20:
                    totals["failed"].append({"seed": seed, "dir": str(workdir), "error": error[:1000],
                                             "config": cfg.__dict__})
            if result is not None:
                for k in result.kills:
                    totals["kills"] += 1
                    totals["max_lost_events"] = max(totals["max_lost_events"], k.lost_events)
                    totals["max_lost_seconds"] = max(totals["max_lost_seconds"], round(k.lost_age_s, 4))
                    totals["max_lost_flush_intervals"] = max(
                        totals["max_lost_flush_intervals"], round(k.lost_age_s / cfg.flush_interval, 2))
                    totals["max_survived_beyond_watermark"] = max(
                        totals["max_survived_beyond_watermark"], k.durable - k.watermark)
                    totals["torn_tails_natural"] += k.natural_torn
                totals["torn_tails_injected"] += result.injected
                totals["torn_tails_repaired"] += result.resume.repaired
                totals["segments_removed"] += result.resume.removed
            if done % 50 == 0:
                print(f"crashtest: {done}/{args.trials} trials, {totals['failures']} failed",
                      file=sys.stderr, flush=True)
        if error is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(one, range(args.trials)))
    totals["elapsed_s"] = round(time.monotonic() - started, 1)
    totals["repo_dir"] = str(base)
    if not totals["failures"] and not args.keep and args.repo_dir is None:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(totals), flush=True)
    return 1 if totals["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
