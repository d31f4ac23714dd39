"""Run management through the real `aim` entry point: rm, restore, close, cp, mv, prune, verify.

Runs are created with the SDK in this process (always closed before a CLI call, so no test
process holds a writer lock by accident); live and crashed writers are real child processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from aim import Repo, Run
from aim.storage.frames import frame_length
from aim.storage.segment_reader import scan_segment
from tests.conftest import CHILDREN, run_cli

TRAIN = {"subset": "train"}


# --- helpers -------------------------------------------------------------------------------------
def cli(*args: str, repo: Path | None = None, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """``aim ARGS --repo REPO``; stdin is empty unless ``input`` is given (never the terminal)."""
    extra = ["--repo", str(repo)] if repo is not None else []
    return run_cli(*args, *extra, input=input if input is not None else "")


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def user_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 1, first stderr line ``error: ...``, no traceback; return stderr."""
    err = proc.stderr
    assert proc.returncode == 1, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{err}"
    assert "Traceback" not in err, err
    assert err.splitlines() and err.splitlines()[0].startswith("error: "), err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def ls_json(repo: Path, *flags: str) -> list[dict]:
    proc = ok(cli("runs", "ls", "--json", *flags, repo=repo))
    return [json.loads(line) for line in proc.stdout.splitlines()]


def listed(repo: Path, *flags: str) -> set[str]:
    return {r["hash"] for r in ls_json(repo, *flags)}


def make_run(repo: Path, experiment: str = "default", *, values: list[float] | None = None,
             extra: dict | None = None, params: dict | None = None, **kw) -> str:
    """A closed run: ``loss``/train with ``values``, plus ``extra`` {(name, ctx-json): value}.

    System metrics are off unless asked for: the tests count metric names and contexts."""
    kw.setdefault("system_tracking_interval", None)
    with Run(repo=repo, experiment=experiment, **kw) as run:
        run["hparams"] = params if params is not None else {"lr": 0.1}
        for v in values if values is not None else [1.0, 0.5, 0.25]:
            run.track(v, name="loss", context=TRAIN)
        for (name, ctx), v in (extra or {}).items():
            run.track(v, name=name, context=json.loads(ctx))
    return run.hash


def read_loss(repo: Path, run_hash: str) -> list[float]:
    run = Repo.from_path(repo).get_run(run_hash)
    assert run is not None, f"run {run_hash} is gone"
    return run.get_metric("loss", TRAIN).values


def assert_intact(repo: Path, expected: dict[str, list[float]]) -> None:
    """Exactly these runs are listed, and each reads back its ``loss`` values."""
    assert listed(repo) == set(expected)
    for h, values in expected.items():
        assert read_loss(repo, h) == values


def frame_bounds(data: bytes | bytearray) -> list[tuple[int, int]]:
    """(start, end) of every frame of a segment's bytes."""
    bounds, pos = [], 0
    while pos < len(data):
        n = frame_length(data, pos)
        bounds.append((pos, pos + n))
        pos += n
    return bounds


@contextmanager
def held_run(repo: Path, experiment: str = "held", *,
             before_first_write: bool = False) -> Iterator[tuple[subprocess.Popen, str]]:
    """A child process holding a new run open for writing; killed on the way out.
    ``before_first_write``: the run's first frame is not written (see hold_run_child.py)."""
    argv = [sys.executable, str(CHILDREN / "hold_run_child.py"), str(repo), experiment]
    proc = subprocess.Popen(argv + (["--before-first-write"] if before_first_write else []),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert len(line) == 24, f"child said {line!r}; stderr: {proc.stderr.read()}"  # type: ignore[union-attr]
        yield proc, line
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


def start_held(repo: Path, n: int) -> list[tuple[subprocess.Popen, str]]:
    """Start ``n`` holders at once (they import aim in parallel) and read their hashes."""
    procs = [subprocess.Popen([sys.executable, str(CHILDREN / "hold_run_child.py"), str(repo)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)]
    try:
        out = []
        for p in procs:
            line = p.stdout.readline().strip()  # type: ignore[union-attr]
            assert len(line) == 24, f"child said {line!r}"
            out.append((p, line))
        return out
    except BaseException:
        stop(procs)
        raise


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait(timeout=10)
        p.stdout.close()  # type: ignore[union-attr]
        p.stderr.close()  # type: ignore[union-attr]


# --- 1. the SEED scenario ------------------------------------------------------------------------
def test_seed_delete_restore_prune(repo_path):
    p = repo_path
    # "keep" shares `loss`/train, `acc`/val and hparams.lr with everything; every other run adds a
    # metric name and a param key of its own; two add a context of their own under `acc` (only
    # one of them is pruned: several pruned contexts under one name are test_prune_many_contexts_*).
    keep = make_run(p, "exp", values=[1.0, 2.0], extra={("acc", '{"subset": "val"}'): 0.5},
                    params={"lr": 0.1, "shared": True})
    doomed: dict[str, str] = {}  # label -> hash
    for label in ("sdk1", "sdkA", "sdkB", "cli1", "cli2", "cli3", "back", "clik"):
        extra = {(f"only_{label}", '{"k": 1}'): 1.0, ("acc", '{"subset": "val"}'): 0.2}
        if label in ("sdk1", "back"):
            extra[("acc", json.dumps({"subset": label}))] = 0.1
        doomed[label] = make_run(p, "exp", values=[3.0], extra=extra,
                                 params={"lr": 0.2, "shared": False, f"only_{label}": 1})
    every = {keep, *doomed.values()}
    own_names = {f"only_{label}" for label in doomed}
    own_params = {f"hparams.only_{label}" for label in doomed}
    assert listed(p) == every

    repo = Repo.from_path(p)
    assert repo.delete_run(doomed["sdk1"]) is True
    assert repo.delete_runs([doomed["sdkA"], doomed["sdkB"]]) == (True, [])

    three = [doomed["cli1"], doomed["cli2"], doomed["cli3"]]
    for answer in ("n\n", ""):  # declined, or no answer at all: nothing is deleted
        proc = cli("runs", "rm", *three, repo=p, input=answer)
        assert proc.returncode == 1, proc
        assert "Traceback" not in proc.stderr
        assert all(h in proc.stdout for h in three)  # the runs were shown before the question
        assert set(three) <= listed(p)
    proc = ok(cli("runs", "rm", *three, repo=p, input="y\n"))
    assert "deleted 3 runs" in proc.stderr
    ok(cli("runs", "rm", doomed["back"], doomed["clik"], "-y", repo=p))

    gone = every - {keep}
    assert listed(p) == {keep}
    assert listed(p, "--deleted") == gone
    fresh = Repo.from_path(p)
    for r in (repo, fresh):
        assert [run.hash for run in r.iter_runs()] == [keep]
        assert all(r.get_run(h) is None for h in gone)
        assert r.get_run(keep) is not None

    # Before prune, everything stays on offer for autocomplete: names, contexts, param keys.
    names = json.loads(ok(cli("storage", "names", "--json", repo=p)).stdout)
    offered = {(s["name"], json.dumps(s["context"], sort_keys=True)) for s in names["sequences"]}
    assert own_names <= {n for n, _ in offered}
    assert {("acc", '{"subset": "sdk1"}'), ("acc", '{"subset": "back"}')} <= offered
    assert own_params <= set(names["params"])
    assert own_names <= {n for n, _ in fresh.available_sequences()}
    assert own_params <= set(fresh.available_params())

    # Restore one before prune: it is back, with its data and its names.
    back = doomed["back"]
    ok(cli("runs", "restore", back, repo=p))
    assert listed(p) == {keep, back}
    assert read_loss(p, back) == [3.0]
    assert Repo.from_path(p).get_run(back).get_metric("only_back", {"k": 1}).values == [1.0]
    pruned = gone - {back}
    run_dirs = [p / ".aim" / "runs" / h for h in pruned]
    seg_bytes = sum(f.stat().st_size for d in run_dirs for f in (d / "events").iterdir())
    assert seg_bytes > 0

    report = json.loads(ok(cli("storage", "prune", "--json", repo=p)).stdout)
    pruned_labels = [lb for lb in doomed if lb != "back"]
    assert report["runs"] == len(pruned)
    # The bytes of the removed event logs (the LOCK files are not the user's data).
    assert report["bytes"] == seg_bytes
    assert report["names"] == sorted(f"only_{lb}" for lb in pruned_labels)
    assert report["param_keys"] == sorted(f"hparams.only_{lb}" for lb in pruned_labels)
    assert {"subset": "sdk1"} in report["contexts"] and {"subset": "val"} not in report["contexts"]
    assert {"subset": "back"} not in report["contexts"]
    assert report["skipped"] == []

    for h in pruned:
        assert not (p / ".aim" / "runs" / h).exists()
    assert listed(p, "--deleted") == set()
    assert listed(p) == {keep, back}
    names = json.loads(ok(cli("storage", "names", "--json", repo=p)).stdout)
    offered = {(s["name"], json.dumps(s["context"], sort_keys=True)) for s in names["sequences"]}
    want_names = {("loss", json.dumps(TRAIN)), ("acc", json.dumps({"subset": "val"})),
                  ("acc", json.dumps({"subset": "back"})), ("only_back", json.dumps({"k": 1}))}
    assert offered == want_names
    assert set(names["params"]) == {"hparams.lr", "hparams.shared", "hparams.only_back"}
    after = Repo.from_path(p)
    assert {(n, json.dumps(c, sort_keys=True)) for n, c in after.available_sequences()} == want_names
    assert set(after.available_params()) == set(names["params"])
    assert read_loss(p, keep) == [1.0, 2.0]
    assert read_loss(p, back) == [3.0]

    # A pruned run cannot come back; a second prune has nothing left to do.
    user_error(cli("runs", "restore", doomed["sdk1"], repo=p), "no run")
    again = json.loads(ok(cli("storage", "prune", "--json", repo=p)).stdout)
    assert again["runs"] == 0 and again["bytes"] == 0 and again["names"] == []
    ok(cli("storage", "verify", repo=p))


def test_prune_many_contexts_of_one_name(repo_path):
    """The common cleanup: delete every run; `loss` had a train and a val context."""
    p = repo_path
    hashes = [make_run(p, extra={("loss", '{"subset": "val"}'): 0.5}, params={"lr": i}) for i in range(2)]
    ok(cli("runs", "rm", *hashes, "-y", repo=p))
    report = json.loads(ok(cli("storage", "prune", "--json", repo=p)).stdout)
    assert report["runs"] == 2 and report["names"] == ["loss"] and report["param_keys"] == ["hparams.lr"]
    assert sorted(report["contexts"], key=json.dumps) == [{"subset": "train"}, {"subset": "val"}]
    assert json.loads(ok(cli("storage", "names", "--json", repo=p)).stdout) == {"sequences": [], "params": []}
    assert listed(p) == set() and listed(p, "--deleted") == set()


# --- 2. bad input -------------------------------------------------------------------------------
@pytest.fixture
def three_runs(repo_path) -> dict[str, list[float]]:
    return {make_run(repo_path, values=[float(i), i + 0.5]): [float(i), i + 0.5] for i in range(3)}


@pytest.mark.parametrize("case", ["unknown", "malformed", "restore-unknown", "cp-exists", "cp-not-a-repo",
                                  "mv-not-a-repo", "bad-age", "cp-same-repo"])
def test_bad_input_is_one_error_line_and_loses_nothing(repo_path, tmp_path, three_runs, case):
    h = next(iter(three_runs))
    not_a_repo = tmp_path / "x" / "not-a-repo"
    dest = tmp_path / "dest"
    if case == "cp-exists":
        assert Repo.from_path(repo_path).copy_runs([h], Repo.from_path(dest, init=True)) == (True, [])
    args, needles = {
        "unknown": (["runs", "rm", "0" * 24, "-y"], ["no run " + "0" * 24]),
        "malformed": (["runs", "rm", "../../etc", "-y"], ["invalid run hash", "../../etc"]),
        "restore-unknown": (["runs", "restore", "f" * 24], ["no run"]),
        "cp-exists": (["runs", "cp", h, "--destination", str(dest)], [h, "already exists"]),
        "cp-not-a-repo": (["runs", "cp", h, "--destination", str(not_a_repo)], ["no aim repository"]),
        "mv-not-a-repo": (["runs", "mv", h, "--destination", str(not_a_repo)], ["no aim repository"]),
        "bad-age": (["runs", "rm", "--older-than", "5x", "-y"], ["invalid age"]),
        "cp-same-repo": (["runs", "cp", h, "-d", str(repo_path / ".aim")], ["same repository"]),
    }[case]
    user_error(cli(*args, repo=repo_path), *needles)
    assert_intact(repo_path, three_runs)
    assert listed(repo_path, "--deleted") == set()
    assert not not_a_repo.exists() and not not_a_repo.parent.exists()
    if case == "cp-exists":
        assert listed(dest) == {h}
        assert read_loss(dest, h) == three_runs[h]


def test_partial_failure_deletes_the_good_reports_the_bad(repo_path, three_runs):
    good, *rest = three_runs
    bad = "0" * 24
    proc = cli("runs", "rm", good, bad, "-y", repo=repo_path)
    err = user_error(proc, f"no run {bad}", "deleted 1 run, 1 failed")
    assert good in proc.stdout and good not in err
    assert listed(repo_path, "--deleted") == {good}
    assert_intact(repo_path, {h: three_runs[h] for h in rest})
    # Same with a malformed selector in the middle.
    proc = cli("runs", "rm", rest[0], "../x", rest[1], "-y", repo=repo_path)
    user_error(proc, "invalid run hash or pattern '../x'", "deleted 2 runs, 1 failed")
    assert listed(repo_path) == set()
    assert listed(repo_path, "--deleted") == set(three_runs)


def test_usage_without_any_selector_is_exit_2(repo_path, three_runs):
    proc = cli("runs", "rm", "-y", repo=repo_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert_intact(repo_path, three_runs)


def test_an_active_run_is_refused_by_every_command(repo_path, tmp_path, three_runs):
    dest = tmp_path / "dest"
    ok(run_cli("init", "--repo", str(dest)))
    with held_run(repo_path) as (child, live):
        pid = str(child.pid)
        for args in (["runs", "rm", live, "-y"], ["runs", "close", live],
                     ["runs", "cp", live, "-d", str(dest)], ["runs", "mv", live, "-d", str(dest)]):
            user_error(cli(*args, repo=repo_path), live, pid)
        assert Repo.from_path(repo_path).delete_run(live) is False
        rows = {r["hash"]: r for r in ls_json(repo_path)}
        assert rows[live]["status"] == "running"
        assert set(rows) == {live, *three_runs}
        assert listed(dest) == set()
        assert not (dest / ".aim" / "runs" / live).exists()
        assert child.poll() is None  # still alive: the refusals happened while it held the lock
        for h, values in three_runs.items():
            assert read_loss(repo_path, h) == values
    # The writer is gone (SIGKILL): nothing was deleted; the run is crashed with its data.
    assert {r["hash"]: r["status"] for r in ls_json(repo_path)}[live] == "crashed"
    assert read_loss(repo_path, live) == [0.0, 0.5, 1.0, 1.5, 2.0]


# --- 3. selectors -------------------------------------------------------------------------------
def test_selectors_prefix_glob_experiment_age(repo_path):
    p = repo_path
    exp = {make_run(p, "sel-a" if i % 2 else "sel-b", values=[float(i)]): ("sel-a" if i % 2 else "sel-b")
           for i in range(20)}
    runs = sorted(exp)
    sel_a = {h for h, e in exp.items() if e == "sel-a"}
    sel_b = set(runs) - sel_a
    everything = set(runs)

    # 20 hashes over 16 hex digits: some first digit is shared (ambiguous); some prefix is unique.
    first = next(c for c in "0123456789abcdef" if sum(h[0] == c for h in runs) > 1)
    user_error(cli("runs", "rm", first, "-y", repo=p), f"prefix '{first}' is ambiguous")
    assert listed(p) == everything
    target = runs[0]
    prefix = next(target[:n] for n in range(1, 25) if sum(h.startswith(target[:n]) for h in runs) == 1)
    assert len(prefix) < 24
    proc = ok(cli("runs", "rm", prefix, "-y", repo=p))
    assert target in proc.stdout and "deleted 1 run" in proc.stderr
    assert listed(p, "--deleted") == {target}
    ok(cli("runs", "restore", prefix, repo=p))
    assert listed(p) == everything

    # Glob with an experiment filter, and restore the same way.
    ok(cli("runs", "rm", "*", "--experiment", "sel-a", "-y", repo=p))
    assert listed(p) == sel_b and listed(p, "--deleted") == sel_a
    ok(cli("runs", "restore", "*", "--experiment", "sel-a", repo=p))
    assert listed(p) == everything

    # Just created: not older than an hour (selects nothing, which is not an error) ...
    proc = ok(cli("runs", "rm", "*", "--older-than", "1h", "-y", repo=p))
    assert "deleted 0 runs" in proc.stderr
    ok(cli("runs", "rm", "--older-than", "1h", "-y", repo=p))
    assert listed(p) == everything
    # ... but older than 0 seconds.
    ok(cli("runs", "rm", "*", "--older-than", "0s", "--experiment", "sel-b", "-y", repo=p))
    assert listed(p) == sel_a and listed(p, "--deleted") == sel_b

    # A filter alone selects.
    proc = ok(cli("runs", "rm", "--experiment", "sel-a", "-y", repo=p))
    assert f"deleted {len(sel_a)} runs" in proc.stderr
    assert listed(p) == set() and listed(p, "--deleted") == everything
    # A glob that matches nothing is an error.
    nomatch = "f" * 22 + "*"
    assert not any(h.startswith(nomatch[:-1]) for h in runs)
    user_error(cli("runs", "restore", nomatch, repo=p), f"no run matches '{nomatch}'")
    assert listed(p) == set()


# --- 4. cp / mv ---------------------------------------------------------------------------------
def test_cp_hard_links_and_mv_moves(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    ok(run_cli("init", "--repo", str(dest)))
    # A run with several sealed segments (one frame each).
    with Run(repo=src, experiment="xfer", segment_max_bytes=1, flush_interval=60) as run:
        run["hparams"] = {"lr": 0.01, "layers": [1, 2]}
        for batch in range(3):
            for i in range(4):
                run.track(batch + i / 10, name="loss", context=TRAIN)
            run.track(batch * 1.0, name="acc", context={"subset": "val"}, step=batch)
            run.flush()
    a = run.hash
    b = make_run(src, "xfer", values=[9.0, 8.0], params={"lr": 0.5})
    other = make_run(src, "stay", values=[7.0])
    a_loss = read_loss(src, a)
    src_segs = Repo.from_path(src).layout.segment_paths(a)
    assert len(src_segs) >= 3

    proc = ok(cli("runs", "cp", a, "--destination", str(dest), repo=src))
    assert a in proc.stdout and "copied 1 run" in proc.stderr
    assert listed(dest) == {a}
    assert listed(src) == {a, b, other}  # cp keeps the source
    copy = Repo.from_path(dest).get_run(a)
    assert copy["hparams"] == {"lr": 0.01, "layers": [1, 2]}
    assert copy.experiment == "xfer"
    assert copy.get_metric("loss", TRAIN).values == a_loss
    assert copy.get_metric("acc", {"subset": "val"}).items() == [(0, 0.0), (1, 1.0), (2, 2.0)]
    dest_segs = Repo.from_path(dest).layout.segment_paths(a)
    assert [s.name for s in dest_segs] == [s.name for s in src_segs]
    for s, d in zip(src_segs, dest_segs, strict=True):
        assert os.stat(s).st_ino == os.stat(d).st_ino, s.name
    assert read_loss(src, a) == a_loss

    proc = ok(cli("runs", "mv", b, "-d", str(dest), repo=src))
    assert "moved 1 run" in proc.stderr
    assert not (src / ".aim" / "runs" / b).exists()
    assert listed(src) == {a, other} and listed(src, "--deleted") == set()
    assert Repo.from_path(src).get_run(b) is None
    assert listed(dest) == {a, b}
    assert read_loss(dest, b) == [9.0, 8.0]
    assert Repo.from_path(dest).get_run(b)["hparams"] == {"lr": 0.5}

    for repo in (dest, src):
        verify = ok(cli("storage", "verify", repo=repo))
        assert "ok: no problems found" in verify.stderr
    assert read_loss(src, other) == [7.0]


# --- 5. close -----------------------------------------------------------------------------------
def test_close_crashed_runs_then_resume(repo_path):
    p = repo_path
    finished = make_run(p, values=[4.0])
    children = start_held(p, 3)
    try:
        (c1, h1), (c2, h2), (_, live) = children
        for c in (c1, c2):
            c.send_signal(signal.SIGKILL)
            c.wait(timeout=10)
        status = {r["hash"]: r["status"] for r in ls_json(p)}
        assert status == {finished: "finished", h1: "crashed", h2: "crashed", live: "running"}

        proc = ok(cli("runs", "close", h1, repo=p))
        assert h1 in proc.stdout and "closed 1 run" in proc.stderr
        status = {r["hash"]: r["status"] for r in ls_json(p)}
        assert status == {finished: "finished", h1: "terminated", h2: "crashed", live: "running"}

        proc = ok(cli("runs", "close", "--all-stale", repo=p))
        assert h2 in proc.stdout and live not in proc.stdout and h1 not in proc.stdout
        status = {r["hash"]: r["status"] for r in ls_json(p)}
        assert status == {finished: "finished", h1: "terminated", h2: "terminated", live: "running"}
        ok(cli("storage", "verify", repo=p))  # closed runs agree with the index; live ones are skipped
    finally:
        stop([c for c, _ in children])

    for h in (h1, h2):
        with Run(run_hash=h, repo=p) as run:
            run.track(9.0, name="loss", context=TRAIN)
        assert read_loss(p, h) == [0.0, 0.5, 1.0, 1.5, 2.0, 9.0]
        assert Repo.from_path(p).get_run(h)["hparams"] == {"batch": 32}
    status = {r["hash"]: r["status"] for r in ls_json(p)}
    assert status[h1] == status[h2] == "finished"
    assert status[live] == "crashed"


def test_verify_accepts_a_crashed_run(repo_path):
    """A writer SIGKILLed after flush() leaves a sound log: nothing for verify to report."""
    with held_run(repo_path) as (child, h):
        child.kill()
        child.wait(timeout=10)
        assert {r["hash"]: r["status"] for r in ls_json(repo_path)} == {h: "crashed"}
        proc = cli("storage", "verify", repo=repo_path)
        assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr


# --- 6. corruption ------------------------------------------------------------------------------
def test_flipped_byte_is_reported_and_isolated(repo_path):
    p = repo_path
    with Run(repo=p, flush_interval=60) as run:
        run["hparams"] = {"lr": 0.3}
        for batch in range(4):
            for i in range(50):
                run.track(batch * 100 + i, name="loss", context=TRAIN)
            run.flush()
    bad = run.hash
    others = {make_run(p, values=[float(i), 2.0 * i]): [float(i), 2.0 * i] for i in range(3)}
    segs = Repo.from_path(p).layout.segment_paths(bad)
    assert len(segs) == 1
    seg = segs[0]
    scan = scan_segment(seg)
    assert scan.clean and scan.frames >= 4
    data = bytearray(seg.read_bytes())
    start, end = frame_bounds(data)[1]  # a frame in the middle: valid frames before and after it
    data[(start + end) // 2] ^= 0xFF
    seg.write_bytes(bytes(data))

    proc = cli("storage", "verify", repo=p)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    damaged = [ln for ln in proc.stdout.splitlines() if ln.startswith("damaged")]
    assert damaged and bad in damaged[0] and seg.name in damaged[0], proc.stdout
    assert not any(h in proc.stdout for h in others), proc.stdout
    report = [json.loads(ln) for ln in cli("storage", "verify", "--json", repo=p).stdout.splitlines()]
    assert {"kind": "damaged", "where": f"runs/{bad}/events/{seg.name}"}.items() <= report[0].items()

    assert listed(p) == {bad, *others}
    table = ok(cli("runs", "ls", repo=p))
    assert all(h in table.stdout for h in (bad, *others)) and "4 runs" in table.stderr
    for h, values in others.items():
        assert read_loss(p, h) == values
    # The damaged run still reads: every frame but the flipped one.
    survived = read_loss(p, bad)
    expected = [float(b * 100 + i) for b in range(4) for i in range(50)]
    assert survived[:50] == expected[:50] and survived[-50:] == expected[-50:]
    assert set(survived) < set(expected)
    # --repair never cuts valid frames away: the damage is still reported afterwards.
    assert cli("storage", "verify", "--repair", repo=p).returncode == 1
    assert read_loss(p, bad) == survived


def test_torn_tail_is_repaired(repo_path):
    p = repo_path
    runs = {make_run(p, values=[float(i), 1.5]): [float(i), 1.5] for i in range(2)}
    torn = next(iter(runs))
    seg = Repo.from_path(p).layout.segment_paths(torn)[-1]
    size = seg.stat().st_size
    with open(seg, "ab") as fh:
        fh.write(b"\x28\xb5\x2f\xfd garbage after the last frame")

    proc = cli("storage", "verify", repo=p)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert any(ln.startswith("torn_tail") and f"runs/{torn}/events/{seg.name}" in ln
               for ln in proc.stdout.splitlines()), proc.stdout
    assert listed(p) == set(runs)

    proc = ok(cli("storage", "verify", "--repair", repo=p))
    assert "(fixed)" in proc.stdout
    assert seg.stat().st_size == size
    proc = ok(cli("storage", "verify", repo=p))
    assert proc.stdout == "" and "ok: no problems found" in proc.stderr
    assert_intact(p, runs)


# --- 7. help ------------------------------------------------------------------------------------
HELP = [["runs", c] for c in ("rm", "restore", "close", "cp", "mv")] + \
       [["storage", c] for c in ("prune", "verify", "names")]


@pytest.mark.parametrize("cmd", HELP, ids=" ".join)
def test_help(cmd):
    proc = ok(run_cli(*cmd, "--help"))
    assert proc.stdout.startswith(f"Usage: aim {' '.join(cmd)} ")
    assert "--repo" in proc.stdout
