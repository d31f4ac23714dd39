"""Run-management operations SIGKILLed at chosen moments, and the checks after each kill:
shared by ``test_manage_crash.py`` and ``tools/crashtest.py``.

Promise (maintenance.py, docs/cli.md): each operation can be killed anywhere. A delete or restore
is one event in a new segment; prune renames a run into ``trash/`` before deleting it; copy
assembles a run in the destination's ``tmp/`` and renames it into ``runs/``; move removes the
source only once the destination is complete.

A trial copies a prepared repository (``build_template``: small runs and 2 bigger ones with many
segments, some tombstoned) and an existing destination, starts a live writer of another run in
the source (``tests/children/crash_child.py``: it appends a watermark after every
``run.flush()``), starts ``tests/children/manage_child.py`` on the operation and SIGKILLs it
``when`` seconds after its START line, or at a ``Target``: the parent holds the write lock of an
index (as a busy process would), the child blocks at its first index write right after a step on
disk (a tombstone written, a run removed, a run placed in the destination), and the kill lands
exactly there. Then, with the writer killed too, ``CHECKS[op]`` checks:

* the files, before anything repairs them: every run is byte-identical to the template, or in
  the operation's "after" state; what is half done lives only under ``tmp/`` or ``trash/``, named
  after the one run being worked on; the runs done are a prefix of the child's order;
* (a) ``aim storage verify`` exits 0, or reports only what this kill explains and
  ``verify --repair`` fixes it, and a second verify exits 0;
* (b) every run's decoded events equal the snapshot taken before (``ts`` left out), plus exactly
  the tombstone for a run that delete/restore reached; the writer lost nothing it flushed;
* (c) per operation: tombstone, index row, listing and ``get_run`` agree; a second prune finishes
  the job and the registry forgets what only pruned runs used; a copy is whole or absent; a moved
  run is somewhere, whole, and re-running the move leaves none of them in the source;
* (d) each repository's index equals a fresh reindex (rows and registry).

Failures raise ``AssertionError`` with a message that says what was expected.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aim import Repo, Run
from aim.sdk.log import iter_events
from tests.crash.checks import (
    TRAIN,
    Lines,
    TrialConfig,
    check_killed,
    check_metrics,
    check_seqs,
    child_stderr,
    kill,
    read_log,
    start_child,
    torn_tail_of,
    verify_clean,
)

CHILD = Path(__file__).resolve().parents[1] / "children" / "manage_child.py"

N_SMALL = 40
BIG_EVENTS = 20_000  # bigger runs: a delete or copy of them must not replay them
BIG_FLUSH_EVERY = 1_000  # one frame each ...
BIG_SEGMENT = 6 * 1024  # ... a few frames per segment: many segments to link, rename, delete
RANDOM_KILLS = 10
TRIALS = RANDOM_KILLS + 1  # the last trial is the targeted kill
AIM_ENTRIES = {"VERSION", "runs", "index", "tmp", "trash"}
OPS = ("delete", "prune", "copy", "move")


@dataclass
class Target:
    """A targeted kill: another connection holds the write lock of one repository's index (as a
    busy writer elsewhere would), so the child blocks at its next index write, right after a
    step on disk; the kill comes when ``ready(src, dest)`` sees that step."""

    busy: str  # "src" or "dest": whose index is held
    ready: Callable[[Path, Path], bool]
    what: str


@contextlib.contextmanager
def _index_held(root: Path) -> Iterator[None]:
    db = sqlite3.connect(root / ".aim" / "index" / "index.sqlite", timeout=30, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        yield
        db.execute("ROLLBACK")
    finally:
        db.close()


def _strip(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "ts"}


def _segments(root: Path, run_hash: str) -> list[Path]:
    return Repo(root).layout.segment_paths(run_hash)


def _events(root: Path, run_hash: str) -> list[dict[str, Any]]:
    return [_strip(e) for e in iter_events(_segments(root, run_hash))]


def _tombstone(seq: int, deleted_before: bool) -> dict[str, Any]:
    return {"seq": seq, "type": "run.restored" if deleted_before else "run.deleted"}


def _entries(root: Path, area: str) -> list[str]:
    try:
        return sorted(p.name for p in (root / ".aim" / area).iterdir())
    except FileNotFoundError:
        return []


def _runs(root: Path) -> set[str]:
    return set(_entries(root, "runs"))


@contextlib.contextmanager
def _opened(root: Path) -> Iterator[Repo]:
    repo = Repo(root)
    try:
        yield repo
    finally:
        repo.close()


# --- the prepared repositories -----------------------------------------------------------------
@dataclass
class Template:
    src: Path  # the folders holding .aim
    dest: Path
    order: list[str]  # every source run, in the order the child works on them
    big: list[str]
    deleted: frozenset[str]  # tombstoned in the template
    prune_order: list[str]  # the order prune visits the tombstoned runs (index order)
    events: dict[str, list[dict[str, Any]]]  # every run's decoded events, ts left out
    files: dict[str, list[tuple[str, bytes]]]  # every run's segments: (name, bytes)
    names: dict[str, str]  # a metric name only this run uses
    params: dict[str, str]  # a param key only this run uses
    dest_own: str  # the destination's own run
    dest_own_events: list[dict[str, Any]]
    seconds: dict[str, float] = field(default_factory=dict)  # calibrated duration of each op


def build_template(root: Path, n_small: int = N_SMALL, big_events: int = BIG_EVENTS) -> Template:
    """Prepare the source (``n_small`` small runs, two with ``big_events`` events over many
    segments, some tombstoned) and destination repositories under ``root``."""
    src, dest = root / "src", root / "dest"
    repo = Repo(src, init=True)
    small: list[str] = []
    big: list[str] = []
    names: dict[str, str] = {}
    params: dict[str, str] = {}
    try:
        for i in range(n_small):
            run = Run(repo=repo, experiment=f"exp{i % 3}")
            run["hparams"] = {"i": i, f"only_{i}": i}
            run.add_tag(f"t{i % 2}")
            for s in range(5):
                run.track(s * 0.5, name="loss", context=TRAIN)
                run.track(float(s + i), name=f"m_{i}")
            run.close()
            small.append(run.hash)
            names[run.hash], params[run.hash] = f"m_{i}", f"hparams.only_{i}"
        for b in range(2):
            run = Run(repo=repo, experiment="big", segment_max_bytes=BIG_SEGMENT)
            run["hparams"] = {f"only_big{b}": b}
            for s in range(big_events):
                run.track(s * 0.25, name=f"big_{b}", context={"subset": "big"})
                if s % BIG_FLUSH_EVERY == BIG_FLUSH_EVERY - 1:
                    run.flush()
            # A name with two contexts that only this run uses: prune's report must handle it.
            run.track(1.0, name=f"big_{b}", context={"subset": "other"})
            run.close()
            big.append(run.hash)
            names[run.hash], params[run.hash] = f"big_{b}", f"hparams.only_big{b}"
        deleted = [h for i, h in enumerate(small) if i % 3] + [big[0]]
        ok, failed = repo.delete_runs(deleted)
        assert ok, failed
        prune_order = [r["hash"] for r in repo.index.run_rows(only_deleted=True)]
        assert sorted(prune_order) == sorted(deleted)
    finally:
        repo.close()
    third = max(1, n_small // 3)
    order = [*small[:third], big[0], *small[third : 2 * third], big[1], *small[2 * third :]]
    events = {h: _events(src, h) for h in order}
    files = {h: [(p.name, p.read_bytes()) for p in _segments(src, h)] for h in order}
    assert all(len(files[h]) >= min(5, big_events // (2 * BIG_FLUSH_EVERY)) for h in big), (
        "the big runs should span several segments")

    drepo = Repo(dest, init=True)
    try:
        run = Run(repo=drepo, experiment="dest")
        run["hparams"] = {"dest": True}
        run.track(1.0, name="loss", context=TRAIN)
        run.close()
        dest_own = run.hash
    finally:
        drepo.close()
    return Template(src, dest, order, big, frozenset(deleted), prune_order, events, files,
                    names, params, dest_own, _events(dest, dest_own))


# --- one trial ---------------------------------------------------------------------------------
@dataclass
class Trial:
    op: str
    no: int
    src: Path
    dest: Path
    pid: int  # the killed child's (it names the child's tmp/ and trash/ entries)
    how: str  # when the kill came
    done: list[str]  # runs whose call had returned (DONE lines)
    finished: bool  # the child had reached END
    end_s: float | None  # seconds from START to END, when it got there
    writer: str
    watermark: int
    notes: list[str] = field(default_factory=list)


def _start_op(op: str, src: Path, dest: Path, order: list[str], work: Path) -> subprocess.Popen[bytes]:
    hashes = work / "hashes.txt"
    hashes.write_text("\n".join(order) + "\n")
    cmd = [sys.executable, str(CHILD), op, str(src), "--hashes", str(hashes)]
    if op in ("copy", "move"):
        cmd += ["--dest", str(dest)]
    with open(work / "op.stderr", "wb") as stderr:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr)


def _op_stderr(work: Path) -> str:
    return (work / "op.stderr").read_text(errors="replace")[-3000:]


def run_killed(template: Template, op: str, no: int, work: Path, when: float | Target | None,
               writer_seed: int | None = None) -> Trial:
    """Copy the template, start a writer and the op; SIGKILL the op ``when`` seconds after START,
    or at the moment ``when`` targets (``None``: let it finish); then kill the writer and check
    it lost nothing it flushed."""
    work.mkdir(parents=True)
    src, dest, state = work / "src", work / "dest", work / "state"
    shutil.copytree(template.src, src)
    shutil.copytree(template.dest, dest)
    seed = 700 + 4 * no + OPS.index(op) if writer_seed is None else writer_seed
    writer, writer_hash = start_child(src, state, TrialConfig(seed=seed), 0)
    kill_ts: list[float] = []
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: kill_ts.append(kill(writer)))
        if isinstance(when, Target):
            stack.enter_context(_index_held(src if when.busy == "src" else dest))
        proc = _start_op(op, src, dest, template.order, work)
        out = Lines(proc)
        try:
            assert out.wait_for(b"START", 30), f"{op} child did not start: {_op_stderr(work)}"
            if when is None:
                how = "none (ran to the end)"
                assert out.wait_for(b"END", 60), f"{op} child did not finish: {_op_stderr(work)}"
                proc.wait(30)
            else:
                if isinstance(when, Target):
                    deadline = time.monotonic() + 20
                    while not when.ready(src, dest):
                        assert proc.poll() is None, f"{op} child exited before {when.what}: {_op_stderr(work)}"
                        assert time.monotonic() < deadline, f"{when.what} never came"
                        time.sleep(0.001)  # the child waits for the index: no race
                    how = f"targeted: {when.what}"
                else:
                    time.sleep(when)
                    how = f"{1000 * when:.1f} ms after START"
                if proc.poll() is None:  # not reaped yet: the pid cannot have been reused
                    os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            out.drain()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
    assert writer.returncode == -signal.SIGKILL, f"the writer exited early: {child_stderr(state, 0)}"
    lines = out.lines()
    ends = [float(line.split()[1]) for line in lines if line.startswith(b"END ")]
    # A kill may land between END and the exit.
    assert proc.returncode in ((0, -signal.SIGKILL) if ends else (-signal.SIGKILL,)), (
        f"{op} child exited with {proc.returncode}: {_op_stderr(work)}")
    done = []
    for line in lines:
        word, *rest = line.decode().split()
        if word == "DONE":
            h, ok = rest
            assert ok == "1", f"{op} of {h} failed in the child: {_op_stderr(work)}"
            done.append(h)
    assert done == template.order[: len(done)]
    # (b) for the other run's writer: nothing it flushed is lost; it is listed as crashed.
    facts = check_killed(src, state, writer_hash, kill_ts[0], 0)
    return Trial(op, no, src, dest, proc.pid, how, done, bool(ends), ends[0] if ends else None,
                 writer_hash, facts.watermark)


def calibrate(template: Template, op: str, work: Path) -> float:
    """Seconds from START to END of ``op`` run to its end beside a writer; the faster of two runs
    (the first is slower: cold caches). Stored in ``template.seconds``."""
    if op not in template.seconds:
        ends = []
        for i in range(2):
            end_s = run_killed(template, op, 100 + i, work / f"calibrate-{op}-{i}", None).end_s
            assert end_s is not None
            ends.append(end_s)
            shutil.rmtree(work / f"calibrate-{op}-{i}")
        template.seconds[op] = min(ends)
    return template.seconds[op]


# --- checks shared by the operations -----------------------------------------------------------
def _check_aim_dir(root: Path) -> None:
    names = {p.name for p in (root / ".aim").iterdir()}
    assert names <= AIM_ENTRIES, f"unexpected entries in {root}/.aim: {sorted(names - AIM_ENTRIES)}"


def _leftover(t: Trial, root: Path, area: str, allowed: set[str]) -> str | None:
    """The run hash of the one entry in ``area`` (named ``<hash>.<killed pid>``), or None."""
    entries = _entries(root, area)
    assert len(entries) <= 1, f"{root.name}/.aim/{area}/ holds {entries}: the child works on one run at a time"
    if not entries:
        return None
    h, _, pid = entries[0].partition(".")
    assert pid == str(t.pid) and h in allowed, (
        f"{root.name}/.aim/{area}/{entries[0]}: not the killed child's (pid {t.pid}) work on a run it handles")
    t.notes.append(f"{root.name} {area}/ entry")
    return h


def _prefix(order: list[str], done: set[str], what: str) -> int:
    """The runs in ``done`` must be the first k of ``order``; return k."""
    positions = [i for i, h in enumerate(order) if h in done]
    k = len(positions)
    assert positions == list(range(k)), f"{what} runs are not a prefix of the child's order: {positions}"
    return k


def _same_files(template: Template, root: Path, h: str, extra: int = 0) -> list[Path]:
    """The template's segments of run ``h`` are in ``root``, byte for byte; return the segments
    after them (at most ``extra``)."""
    paths = _segments(root, h)
    want = template.files[h]
    assert [p.name for p in paths[: len(want)]] == [n for n, _ in want], (
        f"{root.name}/runs/{h}: segments {[p.name for p in paths]}, expected {[n for n, _ in want]}")
    for path, (_, data) in zip(paths, want):
        assert path.read_bytes() == data, f"{path} changed"
    assert len(paths) - len(want) <= extra, f"{root.name}/runs/{h}: unexpected segments {paths[len(want):]}"
    return paths[len(want):]


def _intact(template: Template, root: Path, h: str, extra: list[dict[str, Any]] | None = None) -> None:
    """(b) the run's decoded events are the snapshot's (plus ``extra``), ``ts`` left out."""
    assert _events(root, h) == template.events[h] + (extra or []), (
        f"{root.name}/runs/{h}: events differ from the snapshot{' plus ' + str(extra) if extra else ''}")


def _verify(t: Trial, root: Path, allowed: Callable[[dict[str, Any]], bool]) -> None:
    """(a) ``aim storage verify`` is clean, or reports only what ``allowed`` accepts and
    ``--repair`` fixes all of it, and a second verify is clean."""
    problems = verify_clean(root, allowed, f"after the kill ({t.how})")
    t.notes += sorted({f"{root.name} verify: {p['kind']}" for p in problems})


def _writer_torn(t: Trial, p: dict[str, Any]) -> bool:
    """The writer's last segment torn by its own kill."""
    return torn_tail_of(t.writer)(p)


def _check_writer_after_repair(t: Trial) -> None:
    log = read_log(t.src, t.writer)
    check_seqs(log)
    durable, _ = check_metrics(log.events)
    assert durable >= t.watermark, f"the repair lost the writer's flushed events: {durable} < {t.watermark}"


def _check_index_is_a_replay(root: Path) -> None:
    """(d) the index equals a fresh reindex: run rows and registry."""
    with _opened(root) as repo:
        rows = repo.index.run_rows(include_deleted=True)
        names, params = repo.available_sequences(), repo.available_params()
    with _opened(root) as repo:
        repo.reindex()
    with _opened(root) as repo:
        assert repo.index.run_rows(include_deleted=True) == rows, f"index of {root.name} differs from a reindex"
        assert repo.available_sequences() == names and repo.available_params() == params


def report(t: Trial) -> str:
    """One line: where the kill landed and what it left."""
    return (f"[{t.op} #{t.no}] kill {t.how}; {len(t.done)} call(s) returned, END={t.finished}; "
          f"found: {', '.join(t.notes) or 'nothing half done'}")


# --- delete / restore --------------------------------------------------------------------------
def delete_target(template: Template) -> Target:
    """The first run's tombstone is in its log; the index row is not updated yet."""
    h = template.order[0]
    n = len(template.files[h])
    return Target("src", lambda src, _dest: any(True for _ in iter_events(_segments(src, h)[n:])),
                  "the first tombstone written, its index row not yet")


def _toggled(template: Template, t: Trial) -> list[str]:
    """Runs whose log ends with their delete/restore tombstone; the others are untouched (a
    torn or empty tombstone segment holds no event)."""
    toggled = set()
    for h in template.order:
        extra = [_strip(e) for e in iter_events(_same_files(template, t.src, h, extra=1))]
        tomb = _tombstone(len(template.events[h]), h in template.deleted)
        assert extra in ([], [tomb]), f"run {h}: after the template's segments {extra}, expected {tomb} or none"
        if extra:
            toggled.add(h)
    k = _prefix(template.order, toggled, "tombstoned")
    assert len(t.done) <= k <= len(t.done) + (not t.finished), (
        f"{k} runs tombstoned but the child's call had returned for {len(t.done)}")
    return template.order[:k]


def check_delete(template: Template, t: Trial) -> None:
    """Each run is deleted or not, never half: log, index row, listing and ``get_run`` agree."""
    _check_aim_dir(t.src)
    assert _runs(t.src) == set(template.order) | {t.writer}
    assert not _entries(t.src, "tmp") and not _entries(t.src, "trash")
    toggled = _toggled(template, t)
    k = len(toggled)
    working = template.order[k] if k < len(template.order) else None
    last = toggled[-1] if toggled else None
    if working and len(_segments(t.src, working)) > len(template.files[working]):
        t.notes.append("the next run has a tombstone segment with no event yet")
    t.notes.append(f"{k}/{len(template.order)} toggled")

    def deleted_now(h: str) -> bool:
        return (h in template.deleted) != (h in toggled)

    # Before any repair: get_run reads the log and agrees with it. The listing comes from the
    # index, which lags for the last run reached at most (its row is updated after the
    # tombstone is written, and opening the repo does not re-read finished runs): see the report.
    with _opened(t.src) as repo:
        listed = set(repo.list_all_runs())
        for h in template.order:
            assert (repo.get_run(h) is None) == deleted_now(h), f"run {h}: get_run disagrees with its log"
    lagging = [h for h in template.order if (h in listed) == deleted_now(h)]
    assert set(lagging) <= {last}, f"runs listed against their log: {lagging} (last reached: {last})"
    if lagging:
        t.notes.append(f"last run listed as {'live' if lagging[0] in listed else 'deleted'} against its log")

    def allowed(p: dict[str, Any]) -> bool:
        # The tombstone segment of the run being worked on, torn by the kill; the index row of
        # the last run reached, not yet updated after its tombstone; the writer's own tail.
        return (_writer_torn(t, p)
                or (p["kind"] == "torn_tail" and working is not None
                    and p["where"].startswith(f"runs/{working}/events/"))
                or (p["kind"] == "index_drift" and p["where"] == f"index:{last}"))

    _verify(t, t.src, allowed)
    # (b) the same runs carry the tombstone after the repair; every event is the snapshot's.
    assert _toggled(template, t) == toggled
    for h in template.order:
        _intact(template, t.src, h, [_tombstone(len(template.events[h]), h in template.deleted)]
                if h in toggled else None)
    _check_writer_after_repair(t)
    # (c) deleted or not, never half: log, index row, listing and get_run agree.
    with _opened(t.src) as repo:
        rows = {r["hash"]: r for r in repo.index.run_rows(include_deleted=True)}
        listed = set(repo.list_all_runs())
        for h in template.order:
            deleted = deleted_now(h)
            assert bool(rows[h]["deleted"]) == deleted, f"run {h}: deleted={deleted}, index row {rows[h]}"
            assert (h in listed) != deleted, f"run {h}: deleted={deleted} but listed={h in listed}"
            assert (repo.get_run(h) is None) == deleted, f"run {h}: deleted={deleted}, get_run disagrees"
        assert t.writer in listed
    _check_index_is_a_replay(t.src)


# --- prune -------------------------------------------------------------------------------------
def prune_target(template: Template) -> Target:
    """The first tombstoned run is gone from runs/ and trash/; its index rows are not yet."""
    h = template.prune_order[0]

    def ready(src: Path, _dest: Path) -> bool:
        return not (src / ".aim" / "runs" / h).exists() and not _entries(src, "trash")

    return Target("src", ready, "the first run removed, its index rows not yet")


def check_prune(template: Template, t: Trial) -> None:
    """Live runs untouched, pruned runs gone whole, and the next prune finishes the job."""
    live = [h for h in template.order if h not in template.deleted]
    _check_aim_dir(t.src)
    present = _runs(t.src)
    assert present <= set(template.order) | {t.writer} and t.writer in present
    for h in live:
        assert h in present, f"prune removed live run {h}"
    for h in present - {t.writer}:  # a run still in runs/ is whole
        _same_files(template, t.src, h)
    removed = [h for h in template.prune_order if h not in present]
    k = _prefix(template.prune_order, set(removed), "pruned")
    assert not t.finished or k == len(template.prune_order)
    assert not _entries(t.src, "tmp")
    trashed = _leftover(t, t.src, "trash", set(template.deleted))
    assert trashed is None or trashed == removed[-1], f"trash/ holds {trashed}, not the last run renamed"
    t.notes.append(f"{k}/{len(template.prune_order)} pruned")

    _verify(t, t.src, lambda p: _writer_torn(t, p) or (
        p["kind"] == "leftover" and p["where"] == f"trash/{trashed}.{t.pid}"))
    assert not _entries(t.src, "trash")
    _check_writer_after_repair(t)
    with _opened(t.src) as repo:
        rows = {r["hash"]: r for r in repo.index.run_rows(include_deleted=True)}
        assert set(rows) == present, "the index lists a pruned run or misses a present one"
        assert all(rows[h]["deleted"] for h in template.deleted & present)
        assert set(repo.list_all_runs()) == set(live) | {t.writer}
    _check_index_is_a_replay(t.src)

    # (c) the next prune finishes the job; the registry forgets what only pruned runs used.
    with _opened(t.src) as repo:
        report = repo.prune()
        assert report.skipped == []
        assert sorted(report.runs) == sorted(template.deleted & present)
        assert _runs(t.src) == set(live) | {t.writer}
        assert {r["hash"] for r in repo.index.run_rows(include_deleted=True)} == set(live) | {t.writer}
        names = {n for n, _ in repo.available_sequences()}
        params = set(repo.available_params())
        for h in template.deleted:
            assert template.names[h] not in names, f"the registry still offers {template.names[h]}"
            assert template.params[h] not in params, f"the registry still offers {template.params[h]}"
        for h in live:
            assert template.names[h] in names and template.params[h] in params
        assert {"loss", "acc"} <= names  # the writer's
    for h in live:  # (b)
        _intact(template, t.src, h)
    _check_index_is_a_replay(t.src)


# --- copy --------------------------------------------------------------------------------------
def placed_target(template: Template) -> Target:
    """The first run is renamed into the destination's runs/; its index rows are not written yet
    (and, for a move, the source is still there)."""
    h = template.order[0]
    return Target("dest", lambda _src, dest: (dest / ".aim" / "runs" / h).exists(),
                  "the first run placed in the destination, its index rows not yet")


def _check_dest(template: Template, t: Trial) -> tuple[list[str], str | None]:
    """The destination holds its own run and a prefix of the order, each whole; at most the next
    run half-assembled in tmp/. Return (runs placed, run in tmp/)."""
    _check_aim_dir(t.dest)
    present = _runs(t.dest)
    assert template.dest_own in present and _events(t.dest, template.dest_own) == template.dest_own_events
    assert present <= set(template.order) | {template.dest_own}
    for h in present - {template.dest_own}:
        _same_files(template, t.dest, h)
    k = _prefix(template.order, present, "destination")
    assert not _entries(t.dest, "trash")
    assembling = _leftover(t, t.dest, "tmp", set(template.order))
    assert assembling is None or assembling == template.order[k], (
        f"tmp/ holds {assembling}, not the run after the {k} placed")
    return template.order[:k], assembling


def _check_dest_index(template: Template, t: Trial, placed: list[str]) -> None:
    with _opened(t.dest) as repo:
        rows = {r["hash"]: r for r in repo.index.run_rows(include_deleted=True)}
        assert set(rows) == set(placed) | {template.dest_own}
        for h in placed:
            assert bool(rows[h]["deleted"]) == (h in template.deleted)
        listed = {h for h in placed if h not in template.deleted} | {template.dest_own}
        assert set(repo.list_all_runs()) == listed


def check_copy(template: Template, t: Trial) -> None:
    """The source untouched; the destination holds whole copies or nothing; copying the rest
    completes it."""
    _check_aim_dir(t.src)  # the source is untouched
    assert _runs(t.src) == set(template.order) | {t.writer}
    assert not _entries(t.src, "tmp") and not _entries(t.src, "trash")
    for h in template.order:
        _same_files(template, t.src, h)
    copied, assembling = _check_dest(template, t)
    assert len(t.done) <= len(copied) <= len(t.done) + (not t.finished)
    t.notes.append(f"{len(copied)}/{len(template.order)} copied")

    _verify(t, t.src, lambda p: _writer_torn(t, p))
    _verify(t, t.dest, lambda p: p["kind"] == "leftover" and p["where"] == f"tmp/{assembling}.{t.pid}")
    assert not _entries(t.dest, "tmp")
    _check_writer_after_repair(t)
    for h in copied:  # (b) the copies (the source is byte-identical, checked above)
        _intact(template, t.dest, h)
    _check_dest_index(template, t, copied)
    _check_index_is_a_replay(t.src)
    _check_index_is_a_replay(t.dest)

    # Copying the rest completes the destination.
    rest = [h for h in template.order if h not in copied]
    with _opened(t.src) as repo, _opened(t.dest) as dest:
        ok, failed = repo.copy_runs(rest, dest)
    assert ok, f"copying the rest after the kill failed for {failed}"
    for h in template.order:
        _same_files(template, t.dest, h)
    _check_dest_index(template, t, template.order)


# --- move --------------------------------------------------------------------------------------
def check_move(template: Template, t: Trial) -> None:
    """Every run somewhere and whole; re-running the move empties the source."""
    _check_aim_dir(t.src)
    in_src = _runs(t.src)
    assert in_src <= set(template.order) | {t.writer} and t.writer in in_src
    placed, assembling = _check_dest(template, t)
    for h in template.order:
        assert h in in_src or h in placed, f"run {h} is in neither repository"
        if h in in_src:
            _same_files(template, t.src, h)
    gone = [h for h in template.order if h not in in_src]
    j, k = _prefix(template.order, set(gone), "removed from the source"), len(placed)
    assert j in (k - 1, k), f"{k} runs placed in the destination but {j} removed from the source"
    assert len(t.done) <= j and k <= len(t.done) + (not t.finished)
    assert not _entries(t.src, "tmp")
    trashed = _leftover(t, t.src, "trash", set(template.order))
    assert trashed is None or (j == k and trashed == gone[-1])
    both = sorted(set(placed) & in_src)
    t.notes.append(f"{k}/{len(template.order)} placed, {j} removed" + (f", in both: {both}" if both else ""))

    _verify(t, t.src, lambda p: _writer_torn(t, p) or (
        p["kind"] == "leftover" and p["where"] == f"trash/{trashed}.{t.pid}"))
    _verify(t, t.dest, lambda p: p["kind"] == "leftover" and p["where"] == f"tmp/{assembling}.{t.pid}")
    _check_writer_after_repair(t)
    for h in template.order:  # (b) wherever it is
        for root in (t.src, t.dest):
            if h in _runs(root):
                _intact(template, root, h)
    _check_dest_index(template, t, placed)
    _check_index_is_a_replay(t.src)
    _check_index_is_a_replay(t.dest)

    # (c) re-running the move for the runs still in the source finishes it.
    rest = [h for h in template.order if h in _runs(t.src)]
    with _opened(t.src) as repo, _opened(t.dest) as dest:
        ok, failed = repo.move_runs(rest, dest)
        left = [h for h in template.order if repo.has_run(h)]
        assert not left, (
            f"after re-running the move of {len(rest)} runs the source still has {left} (move_runs "
            f"failed for {failed}); in both repositories after the kill ({t.how}): {both}")
        assert ok, failed
        assert not {r["hash"] for r in repo.index.run_rows(include_deleted=True)} & set(template.order)
    for h in template.order:
        _same_files(template, t.dest, h)
    _check_dest_index(template, t, template.order)


TARGETS: dict[str, Callable[[Template], Target]] = {
    "delete": delete_target, "prune": prune_target, "copy": placed_target, "move": placed_target,
}
CHECKS: dict[str, Callable[[Template, Trial], None]] = {
    "delete": check_delete, "prune": check_prune, "copy": check_copy, "move": check_move,
}
