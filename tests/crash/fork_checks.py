"""Forks and rewinds SIGKILLed at random moments, and the checks after each kill: shared by
``test_fork_crash.py`` and ``tools/crashtest.py`` (phases ``fork`` and ``rewind``).

Promise (docs/fork.md): a fork is assembled under ``tmp/`` and renamed into ``runs/`` in one
step, so a kill leaves no fork or a whole one, and never touches the parent; a rewind is one
frame in a segment of its own, so a kill leaves the run as it was or rewound, nothing between.

A trial copies a prepared repository (``build_template``: runs of a few thousand steps in many
small segments), starts ``tests/children/fork_child.py`` on the plan (each run forked, or
rewound, at a step) and SIGKILLs it ``when`` seconds after its START line. Then:

* the parents: byte-identical to the template (fork), or identical but for one more segment
  holding exactly the planned ``run.rewound`` (rewind);
* the forks in ``runs/``: one per ``DONE`` line (plus at most the one being made), each reading
  back its parent's points up to its step and ``forked_from`` as planned;
* every run reads back its current history (a rewound run: the points up to its step);
* ``aim storage verify`` is clean, or reports only a leftover under ``tmp/``, a torn tail of the
  rewind's new segment or an index row behind the log, and ``--repair`` fixes them;
* the index then equals a replay of every run's log.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aim import Repo, Run
from aim.sdk import indexer
from aim.sdk.log import iter_events
from tests.crash.checks import Lines, expect, verify_clean

CHILD = Path(__file__).resolve().parents[1] / "children" / "fork_child.py"
QUIET: dict[str, Any] = {"system_tracking_interval": None, "capture_terminal_logs": False}
OPS = ("fork", "rewind")


@dataclass
class Template:
    root: Path  # the folder holding .aim
    steps: dict[str, int]  # run -> its number of steps
    plan: list[tuple[str, int]]  # (run, step) in the child's order
    digests: dict[str, str]
    events: dict[str, list[dict[str, Any]]]
    seconds: dict[str, float] = field(default_factory=dict)  # a whole pass of each op


def _digest(run_dir: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(run_dir.rglob("*")):
        if p.is_file() and p.name != "LOCK":
            h.update(str(p.relative_to(run_dir)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _strip(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "ts"} for e in events]


def build_template(root: Path, runs: int = 4, steps: int = 3_000) -> Template:
    """Runs of ``steps`` steps in segments of 8 KiB (many files to link), and the plan."""
    hashes = []
    for k in range(runs):
        with Run(repo=root, segment_max_bytes=8 * 1024, flush_interval=0.05, **QUIET) as run:
            run["hp"] = {"k": k}
            for s in range(steps):
                run.track(k * 10_000.0 + s, name="loss", step=s)
                if s % 500 == 499:
                    run.flush()
        hashes.append(run.hash)
    layout = Repo(root).layout
    template = Template(
        root, {h: steps for h in hashes}, [(h, steps // 3 + 7 * i) for i, h in enumerate(hashes)],
        {h: _digest(layout.run_dir(h)) for h in hashes},
        {h: _strip(list(iter_events(layout.segment_paths(h)))) for h in hashes})
    for op in OPS:  # calibrate: a whole unkilled pass of each op on a copy
        t = run_killed(template, op, root.parent / f"calibrate-{op}", None)
        template.seconds[op] = t.seconds
    return template


@dataclass
class Trial:
    op: str
    root: Path
    done: list[tuple[str, str]]
    seconds: float
    when: float | None


def run_killed(template: Template, op: str, work: Path, when: float | None) -> Trial:
    """Copy the template to ``work``, run the child on the plan, SIGKILL it ``when`` seconds
    after START (None: let it finish)."""
    shutil.rmtree(work, ignore_errors=True)
    root = work / "repo"
    shutil.copytree(template.root, root)
    plan = work / "plan.txt"
    plan.write_text("".join(f"{h} {s}\n" for h, s in template.plan))
    proc = subprocess.Popen([sys.executable, str(CHILD), op, str(root), str(plan)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = Lines(proc)
    started = out.next_line(60) == b"START"
    t0 = time.monotonic()
    if started and when is not None:
        time.sleep(when)
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(120)
    seconds = time.monotonic() - t0
    out.drain()
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    expect(started, f"{op} child did not start: {err[-2000:]}")
    expect(when is not None or proc.returncode == 0, f"{op} child failed: {err[-2000:]}")
    done = [(p[1].decode(), p[2].decode()) for p in (ln.split() for ln in out.lines()) if p and p[0] == b"DONE"]
    return Trial(op, root, done, seconds, when)


def check(template: Template, t: Trial) -> None:
    """Every promise of the module docstring, for one killed trial."""
    layout = Repo(t.root).layout
    present = set(indexer.run_hashes_on_disk(layout))
    planned = dict(template.plan)
    forks = present - set(template.steps)
    if t.op == "fork":
        for h in template.steps:
            expect(_digest(layout.run_dir(h)) == template.digests[h], f"fork changed its parent {h}")
        made = [child for _, child in t.done]
        expect(set(made) <= forks and len(forks) - len(made) in (0, 1),
               f"forks on disk {sorted(forks)} vs the ones the child reported {made}")
    else:
        expect(not forks, f"a rewind made runs: {sorted(forks)}")
        for h in template.steps:
            extra = _strip(list(iter_events(layout.segment_paths(h))))[len(template.events[h]):]
            before = _strip(list(iter_events(layout.segment_paths(h))))[:len(template.events[h])]
            expect(before == template.events[h], f"rewind changed what run {h} held")
            expect(extra in ([], [{"seq": len(template.events[h]), "type": "run.rewound",
                                   "step": planned[h], "extents": {}}]),
                   f"run {h} gained {extra}, not one run.rewound at step {planned[h]}")
        rewound = {h for h in template.steps
                   if len(list(iter_events(layout.segment_paths(h)))) > len(template.events[h])}
        expect({h for h, _ in t.done} <= rewound, f"reported rewound {t.done}, on disk {sorted(rewound)}")
    allowed = {"leftover", "torn_tail", "index_drift"}
    verify_clean(t.root, lambda p: p["kind"] in allowed, f"after a killed {t.op}")
    repo = Repo(t.root)
    for h in present:
        run = repo.get_run(h)
        forked = run.forked_from
        if h in forks:
            expect(forked is not None and planned.get(forked["hash"]) == forked["step"],
                   f"fork {h} says it was forked from {forked}")
            parent, limit = forked["hash"], forked["step"]
        else:
            rewound_here = t.op == "rewind" and len(list(iter_events(layout.segment_paths(h)))) > len(
                template.events[h])
            parent, limit = h, planned[h] if rewound_here else template.steps[h] - 1
        metric = run.get_metric("loss")
        k = list(template.steps).index(parent)
        expect(metric is not None and list(metric.values) == [k * 10_000.0 + s for s in range(limit + 1)],
               f"run {h} does not read back run {parent}'s points up to step {limit}")
        summary, _, size = indexer.replay_run(layout, h)
        row = repo.index.run_row(h)
        want = indexer.run_row(summary, size)
        expect(row == want, f"index row of {h} differs from its replay: {row} != {want}")
    repo.close()
