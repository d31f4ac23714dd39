#!/usr/bin/env python3
"""SIGKILL crash trials in every phase, then byte-level faults: ``python -m tools.crashtest --trials 500``.

Trial ``i`` runs phase ``PHASES[i % 11]`` with seed ``SEED + i``; every kill is a real SIGKILL of
a real process at a seeded random moment of that phase:

* ``create``: a training process killed while ``Run()`` creates its run (and, in half the trials,
  the repository), before or just after it says the run is open;
* ``track``: killed while tracking in bursts into one big segment;
* ``rotate``: killed while tracking into 16-64 KiB segments (frequent rotation);
* ``resume``: a run killed while tracking, then its resume killed either while ``Run(run_hash=...)``
  opens it or while it tracks again;
* ``delete``/``prune``/``copy``/``move``: the management operation killed beside a live writer of
  another run (one trial in ten: at a targeted moment, right after a step on disk);
* ``upload``: ``aim runs upload`` to a moto S3 server on 127.0.0.1 killed mid-way beside a live
  writer;
* ``fork``/``rewind``: a process forking (or rewinding) several runs of many segments, killed at
  a random moment (``tests/crash/fork_checks.py``): no fork or a whole one, parents untouched,
  runs rewound or not.

After each kill: ``aim storage verify`` is clean, or reports only what the kill explains and is
clean after ``--repair``; nothing flushed (or already in the repository) is lost or changed; the
run resumes, the operation re-run finishes, the next upload ships exactly what is missing. The
checks live in the package ``tests.crash`` (``checks.py``, ``manage_checks.py``,
``upload_checks.py``), which the test suite runs at a reduced size; so this runs as a module
from the repository root (``python -m tools.crashtest``), where ``tests`` is importable.

Then byte-level faults on the last segment of a real run (``tests/crash/faults.py``): truncation
at every offset of the last frame (``--fault-stride N``: every N-th), appended zeros, appended
garbage, a flipped byte at every offset of a middle frame.

Prints one JSON line: failures, and among them ``corrupt_repos`` (verify, even with ``--repair``,
not clean) and ``lost_durable_events`` (flushed or already stored data lost or changed); per
phase, trials and failures; the loss bound seen (events tracked but not
on disk at a kill, and the age of the oldest); torn tails repaired; the byte-fault counts. Exit
status 1 when any trial or fault check failed. Failed trials' folders are kept for inspection.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

try:
    from tests.crash import checks, faults, fork_checks, manage_checks, upload_checks
except ModuleNotFoundError as exc:
    # Run as a script (`python tools/crashtest.py`), the repository root is not on sys.path.
    if exc.name not in ("tests", "tests.crash"):
        raise
    sys.exit("error: the checks live in the package tests.crash: run this from the repository root "
             "as `python -m tools.crashtest ...`")

PHASES = ("create", "track", "rotate", "resume", "delete", "prune", "copy", "move", "upload", "fork", "rewind")
MANAGE = ("delete", "prune", "copy", "move")
TARGETED_EVERY = 10  # one management trial in ten kills at the targeted moment


class Setup:
    """What the trials share: the prepared repositories, the S3 server, calibrated durations."""

    def __init__(self, base: Path, phases: set[str], quick: bool, stack: contextlib.ExitStack) -> None:
        self.open_seconds: dict[bool, float] = {}
        self.template: manage_checks.Template | None = None
        self.fork_template: fork_checks.Template | None = None
        self.endpoint = ""
        self.upload_seconds = 0.0
        cal = base / "calibrate"
        if phases & {"create", "resume"}:
            for resume in (False, True):
                self.open_seconds[resume] = min(
                    checks.measure_open(cal / f"open-{resume}-{i}", checks.TrialConfig(seed=90 + i), resume)
                    for i in range(2))
        if phases & {*MANAGE, "upload"}:
            self.template = manage_checks.build_template(
                base / "template", **({"n_small": 12, "big_events": 5_000} if quick else {}))
            for op in sorted(phases & set(MANAGE)):
                manage_checks.calibrate(self.template, op, cal)
        if "upload" in phases:
            assert self.template is not None
            self.endpoint = stack.enter_context(upload_checks.start_s3_server())
            t = upload_checks.run_upload_trial(self.template.src, cal / "upload", self.endpoint,
                                               "calibrate", None, writer_seed=1)
            assert t.seconds is not None, "the calibration upload did not finish"
            self.upload_seconds = t.seconds
        if phases & set(fork_checks.OPS):
            self.fork_template = fork_checks.build_template(
                base / "fork-template" / "repo", **({"runs": 3, "steps": 1_000} if quick else {}))
        shutil.rmtree(cal, ignore_errors=True)

    def calibration(self) -> dict[str, float]:
        out = {f"open_{'resume' if k else 'create'}_s": round(v, 4) for k, v in self.open_seconds.items()}
        if self.template is not None:
            out |= {f"{op}_s": round(v, 3) for op, v in self.template.seconds.items()}
        if self.upload_seconds:
            out["upload_s"] = round(self.upload_seconds, 3)
        if self.fork_template is not None:
            out |= {f"{op}_s": round(v, 3) for op, v in self.fork_template.seconds.items()}
        return out


def process_trial(phase: str, seed: int, work: Path, setup: Setup, quick: bool, slack: float) -> dict[str, Any]:
    """create / track / rotate / resume. Returns facts for the totals."""
    rng = random.Random(f"{phase}-{seed}")
    cfg = checks.TrialConfig.random(seed, quick=quick)
    if phase == "create":
        delay = rng.uniform(0, 1.3 * setup.open_seconds[False])
        r = checks.run_open_kill_trial(cfg, work, resume=False, delay=delay, existing=rng.random() < 0.5)
        return {"open_kill": True, "run_on_disk": r.run_hash is not None, "opened": r.opened,
                "verify": r.verify_problems}
    if phase == "resume" and rng.random() < 0.5:
        delay = rng.uniform(0, 1.3 * setup.open_seconds[True])
        r = checks.run_open_kill_trial(cfg, work, resume=True, delay=delay)
        return {"open_kill": True, "run_on_disk": True, "opened": r.opened, "verify": r.verify_problems,
                "repaired": r.resume.repaired if r.resume else 0}
    if phase == "track":
        cfg.segment_max_bytes, cfg.kill_after = 16 << 20, cfg.kill_after[:1]
    elif phase == "rotate":
        cfg.segment_max_bytes, cfg.kill_after = rng.choice([16 * 1024, 64 * 1024]), cfg.kill_after[:1]
    else:  # resume: killed while tracking, resumed, killed again while tracking
        cfg.kill_after = [rng.uniform(0.05, 0.6) for _ in range(2)]
    result = checks.run_trial(cfg, work, loss_slack=slack)
    return {"kills": [(k.lost_events, k.lost_age_s, k.lost_age_s / cfg.flush_interval, k.natural_torn)
                      for k in result.kills],
            "segments": result.kills[-1].segments, "repaired": result.resume.repaired + result.verify_repaired,
            "injected": result.injected}


def manage_trial(phase: str, seed: int, work: Path, setup: Setup) -> dict[str, Any]:
    template = setup.template
    assert template is not None
    rng = random.Random(f"{phase}-{seed}")
    when: float | manage_checks.Target
    if seed % TARGETED_EVERY == TARGETED_EVERY - 1:
        when = manage_checks.TARGETS[phase](template)
    else:  # a little past the calibrated end too: a kill after the last step is a case
        when = rng.uniform(0, 1.1 * template.seconds[phase])
    t = manage_checks.run_killed(template, phase, seed, work, when, writer_seed=seed)
    manage_checks.CHECKS[phase](template, t)
    return {"line": manage_checks.report(t), "finished": t.finished}


def upload_trial(seed: int, work: Path, setup: Setup) -> dict[str, Any]:
    assert setup.template is not None
    when = random.Random(f"upload-{seed}").uniform(0, 1.1 * setup.upload_seconds)
    t = upload_checks.run_upload_trial(setup.template.src, work, setup.endpoint, f"crash-{seed}", when,
                                       writer_seed=seed)
    return {"line": upload_checks.report(t), "finished": t.finished,
            "mid_way": t.shipped > 0 and not t.manifests}


def fork_trial(phase: str, seed: int, work: Path, setup: Setup) -> dict[str, Any]:
    template = setup.fork_template
    assert template is not None
    when = random.Random(f"{phase}-{seed}").uniform(0, 1.2 * template.seconds[phase])
    t = fork_checks.run_killed(template, phase, work, when)
    fork_checks.check(template, t)
    return {"line": f"{len(t.done)}/{len(template.plan)} done", "finished": len(t.done) == len(template.plan)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.crashtest", description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=500)
    p.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    p.add_argument("--repo-dir", type=Path, help="where trial folders go (default: a temp folder)")
    p.add_argument("--seed", type=int, default=0, help="trial i uses seed SEED + i")
    p.add_argument("--jobs", type=int, default=2, help="trials run at once")
    p.add_argument("--loss-slack", type=float, default=0.5,
                   help="seconds a kill may lose beyond the flush interval (default 0.5)")
    p.add_argument("--quick", action="store_true", help="smaller repositories, lower event rates")
    p.add_argument("--fault-stride", type=int, default=1,
                   help="byte faults at every N-th offset of a frame (0: no byte faults)")
    p.add_argument("--keep", action="store_true", help="keep passing trials' folders too")
    p.add_argument("--verbose", action="store_true", help="print one line per trial on stderr")
    args = p.parse_args(argv)
    phases = [ph for ph in args.phases.split(",") if ph]
    if args.trials < 1 or args.jobs < 1 or args.fault_stride < 0:
        p.error("--trials and --jobs must be >= 1, --fault-stride >= 0")
    if unknown := set(phases) - set(PHASES):
        p.error(f"unknown phases {sorted(unknown)}; choose from {','.join(PHASES)}")
    base = args.repo_dir or Path(tempfile.mkdtemp(prefix="aim-crashtest-"))
    base.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    per_phase = {ph: {"trials": 0, "failures": 0} for ph in phases}
    totals: dict[str, Any] = {
        "trials": args.trials, "failures": 0, "corrupt_repos": 0, "lost_durable_events": 0,
        "phases": per_phase, "kills": 0,
        "max_lost_events": 0, "max_lost_seconds": 0.0, "max_lost_flush_intervals": 0.0,
        "loss_slack_s": args.loss_slack, "torn_tails_natural": 0, "torn_tails_injected": 0,
        "torn_tails_repaired": 0, "open_kills": {"run_on_disk": 0, "opened": 0, "verify_repaired": 0},
        "manage_kills_before_end": 0, "uploads_killed_mid_way": 0, "fork_rewind_killed_mid_way": 0,
        "failed": [],
    }
    guard = threading.Lock()
    done = 0

    with contextlib.ExitStack() as stack:
        setup = Setup(base, set(phases), args.quick, stack)
        totals["calibration"] = setup.calibration()

        def one(i: int) -> None:
            nonlocal done
            seed, phase = args.seed + i, phases[i % len(phases)]
            work = base / f"trial-{seed:06d}-{phase}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            error: str | None = None
            facts: dict[str, Any] = {}
            run: Callable[[], dict[str, Any]]
            if phase in MANAGE:
                run = lambda: manage_trial(phase, seed, work / "t", setup)  # noqa: E731
            elif phase == "upload":
                run = lambda: upload_trial(seed, work / "t", setup)  # noqa: E731
            elif phase in fork_checks.OPS:
                run = lambda: fork_trial(phase, seed, work / "t", setup)  # noqa: E731
            else:
                run = lambda: process_trial(phase, seed, work, setup, args.quick, args.loss_slack)  # noqa: E731
            try:
                facts = run()
            except Exception as exc:  # a broken promise (AssertionError) or anything unexpected
                error = f"{type(exc).__name__}: {exc}"
            with guard:
                done += 1
                _add(totals, per_phase[phase], facts, error, seed, phase, work)
                if args.verbose:
                    print(f"crashtest {seed} {phase}: {'FAILED ' + error[:300] if error else 'ok'} "
                          f"{facts.get('line', '')}", file=sys.stderr, flush=True)
                elif done % 50 == 0:
                    print(f"crashtest: {done}/{args.trials} trials, {totals['failures']} failed",
                          file=sys.stderr, flush=True)
            if error is None and not args.keep:
                shutil.rmtree(work, ignore_errors=True)

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            list(pool.map(one, range(args.trials)))

    if args.fault_stride:
        try:
            totals["byte_faults"] = faults.run_byte_faults(base / "faults", stride=args.fault_stride,
                                                           seed=args.seed)
        except Exception as exc:
            totals["failures"] += 1
            totals["byte_faults"] = {"error": f"{type(exc).__name__}: {exc}"[:1000]}
    totals["elapsed_s"] = round(time.monotonic() - started, 1)
    totals["repo_dir"] = str(base)
    if not totals["failures"] and not args.keep and args.repo_dir is None:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(totals), flush=True)
    return 1 if totals["failures"] else 0


def _add(totals: dict[str, Any], phase_totals: dict[str, int], facts: dict[str, Any], error: str | None,
         seed: int, phase: str, work: Path) -> None:
    phase_totals["trials"] += 1
    if error is not None:
        totals["failures"] += 1
        phase_totals["failures"] += 1
        # The two promises by name: a repository verify (with --repair) could not make clean,
        # and durable data gone (flushed events, a run or a segment that was there).
        totals["corrupt_repos"] += "verify" in error
        totals["lost_durable_events"] += any(w in error for w in ("lost", "changed", "differ", "missing"))
        if len(totals["failed"]) < 20:
            totals["failed"].append({"seed": seed, "phase": phase, "dir": str(work), "error": error[:1000]})
        return
    for lost, age, intervals, torn in facts.get("kills", []):
        totals["kills"] += 1
        totals["max_lost_events"] = max(totals["max_lost_events"], lost)
        totals["max_lost_seconds"] = max(totals["max_lost_seconds"], round(age, 4))
        totals["max_lost_flush_intervals"] = max(totals["max_lost_flush_intervals"], round(intervals, 2))
        totals["torn_tails_natural"] += torn
    totals["torn_tails_injected"] += bool(facts.get("injected"))
    totals["torn_tails_repaired"] += facts.get("repaired", 0)
    if facts.get("open_kill"):
        totals["kills"] += 1
        opened = totals["open_kills"]
        opened["run_on_disk"] += facts["run_on_disk"]
        opened["opened"] += facts["opened"]
        opened["verify_repaired"] += bool(facts["verify"])
    if phase in MANAGE:
        totals["kills"] += 1
        totals["manage_kills_before_end"] += not facts["finished"]
    if phase == "upload":
        totals["kills"] += 1
        totals["uploads_killed_mid_way"] += facts["mid_way"]
    if phase in fork_checks.OPS:
        totals["kills"] += 1
        totals["fork_rewind_killed_mid_way"] += not facts["finished"]


if __name__ == "__main__":
    sys.exit(main())
