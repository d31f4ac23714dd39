"""A run that is live but has not written its first frame yet, through every command.

A new run's directory and lock exist from its creation; its first events reach the log at its
first flush. ``hold_run_child.py --before-first-write`` holds such a run (flush interval 300 s,
nothing captured or sampled) until it is signalled: SIGTERM makes it close the run (status
terminated, its two events written), SIGKILL leaves a directory without any event.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from aim import Repo
from aim.sdk.log import iter_events
from tests.cli.test_manage_runs import cli, held_run, listed, ls_json, make_run, ok, read_loss, user_error
from tests.conftest import run_cli


@contextmanager
def unwritten_run(repo: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A child process holding a new run whose first frame is not written; killed on the way out."""
    with held_run(repo, before_first_write=True) as (proc, run_hash):
        assert_unwritten(repo, run_hash)
        yield proc, run_hash


def assert_unwritten(repo: Path, run_hash: str) -> None:
    """The run directory holds its lock and nothing else: no segment, no index row."""
    run_dir = repo / ".aim" / "runs" / run_hash
    assert run_dir.is_dir()
    assert sorted(p.name for p in run_dir.iterdir()) == ["LOCK"], sorted(run_dir.iterdir())


def finish(proc: subprocess.Popen[str]) -> None:
    """SIGTERM: the child's exit hooks close the run (terminated), writing its first frame."""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) != 0


def assert_closed_whole(repo: Path, run_hash: str) -> None:
    """After ``finish``: exactly the events the writer made, in one sound log, and indexed."""
    events = list(iter_events(Repo.from_path(repo).layout.segment_paths(run_hash)))
    assert [(e["seq"], e["type"]) for e in events] == [(0, "run.started"), (1, "run.finished")]
    assert events[0]["experiment"] == "held" and events[1]["status"] == "terminated"
    rows = {r["hash"]: r for r in ls_json(repo)}
    assert rows[run_hash]["status"] == "terminated" and rows[run_hash]["experiment"] == "held"
    proc = ok(cli("storage", "verify", repo=repo))
    assert proc.stdout == "", proc.stdout


def test_every_command_that_writes_refuses_it_by_name(repo_path, tmp_path):
    p = repo_path
    other = make_run(p, values=[1.0, 2.0])
    dest = tmp_path / "dest"
    ok(run_cli("init", "--repo", str(dest)))
    with unwritten_run(p) as (child, h):
        pid = f"process {child.pid}"
        for args in (["runs", "rm", "-y", h], ["runs", "rm", "-y", h[:6]], ["runs", "close", h],
                     ["runs", "close", "-y", h], ["runs", "cp", h, "--destination", str(dest)],
                     ["runs", "mv", h, "--destination", str(dest)]):
            err = user_error(cli(*args, repo=p), f"run {h} is open for writing by {pid}")
            assert "0 runs, 1 failed" in err, (args, err)
        # A glob chooses it like any live run: the others are done, it is refused, exit 1.
        proc = cli("runs", "cp", "*", "--destination", str(dest), repo=p)
        assert proc.returncode == 1 and f"run {h} is open for writing by {pid}" in proc.stderr
        assert "copied 1 run, 1 failed" in proc.stderr
        assert listed(dest) == {other}
        # Group-level --repo, as Aim writes it: the same refusal.
        user_error(run_cli("runs", "--repo", str(p), "rm", "-y", h, input=""), pid)
        # restore: a live run is not deleted, whether it has written or not.
        user_error(cli("runs", "restore", h, repo=p), f"run {h} is not deleted")
        # Re-initializing the repository is refused as a whole: nothing is removed.
        user_error(run_cli("init", "--repo", str(p), "-y"), f"run {h} is open for writing by {pid}",
                   "nothing was removed")
        assert listed(p) == {other, h}
        assert read_loss(p, other) == [1.0, 2.0]
        assert_unwritten(p, h)
        assert not (dest / ".aim" / "runs" / h).exists()
        assert Repo.from_path(p).delete_run(h) is False
        assert child.poll() is None
        finish(child)
    assert_closed_whole(p, h)
    # Now that its writer is done, the same command works.
    ok(cli("runs", "rm", "-y", h, repo=p))
    assert listed(p) == {other}


def test_readers_show_it_running_and_followers_wait_for_its_events(repo_path):
    p = repo_path
    other = make_run(p, experiment="exp", values=[3.0])
    with unwritten_run(p) as (child, h):
        rows = {r["hash"]: r for r in ls_json(p)}
        assert set(rows) == {other, h}
        assert rows[h]["status"] == "running" and rows[h]["experiment"] is None
        assert time.time() - 120 < rows[h]["creation_time"] <= time.time()
        table = ok(cli("runs", "ls", repo=p))
        line = next(ln for ln in table.stdout.splitlines() if h in ln)
        assert line.split()[1:3] == ["-", "-"] and line.endswith("running") and "2 runs" in table.stderr
        # Unknown experiment: no --experiment matches it; it is never deleted.
        assert {r["hash"] for r in ls_json(p, "--experiment", "exp")} == {other}
        assert listed(p, "--deleted") == set()
        # show: running, nothing recorded (not "no run").
        info = json.loads(ok(cli("runs", "show", h, "--json", repo=p)).stdout)
        assert info["status"] == "running" and info["sequences"] == [] and info["params"] == {}
        assert "running" in ok(cli("runs", "show", h, repo=p)).stdout
        # What it has written so far: nothing, and that is not an error.
        assert ok(cli("runs", "tail", h, repo=p)).stdout == ""
        assert ok(cli("runs", "logs", h, repo=p)).stdout == ""
        assert ok(cli("runs", "export", h, repo=p)).stdout.splitlines() == [
            "run,name,context,step,epoch,value,time"]
        # Followers wait for its events, and end with the run.
        followers = [subprocess.Popen([sys.executable, "-m", "aim", "runs", verb, "-f", h, "--repo", str(p)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for verb in ("tail", "logs")]
        try:
            time.sleep(2.0)
            assert [f.poll() for f in followers] == [None, None]
            finish(child)
            outs = [f.communicate(timeout=60) for f in followers]
        finally:
            for f in followers:
                if f.poll() is None:
                    f.kill()
                    f.communicate()
        assert [f.returncode for f in followers] == [0, 0], outs
        tailed = [json.loads(ln) for ln in outs[0][0].splitlines()]
        assert [e["type"] for e in tailed] == ["run.started", "run.finished"]
    assert_closed_whole(p, h)


def test_maintenance_leaves_it_alone(repo_path):
    p = repo_path
    other = make_run(p, values=[5.0])
    ok(cli("runs", "rm", "-y", other, repo=p))
    with unwritten_run(p) as (child, h):
        for args in (["storage", "verify"], ["storage", "verify", "--repair"], ["runs", "close", "--all-stale"],
                     ["runs", "ls", "--corrupted"]):
            proc = ok(cli(*args, repo=p))
            assert h not in proc.stdout, (args, proc.stdout)
        assert "no problems" in ok(cli("storage", "verify", repo=p)).stderr
        assert "removed 1 run" in ok(cli("storage", "prune", repo=p)).stdout  # the deleted one only
        assert "reindexed 0 runs" in ok(cli("storage", "reindex", "-y", repo=p)).stdout
        assert ok(cli("runs", "rm", "--corrupted", "-y", repo=p)).stderr.startswith("deleted 0 runs")
        assert_unwritten(p, h)
        assert {r["hash"]: r["status"] for r in ls_json(p)} == {h: "running"}
        finish(child)
    assert_closed_whole(p, h)


def test_a_writer_dead_before_its_first_write_is_named_not_skipped(repo_path, tmp_path):
    p = repo_path
    other = make_run(p, values=[7.0])
    dest = tmp_path / "dest"
    ok(run_cli("init", "--repo", str(dest)))
    with unwritten_run(p) as (child, h):
        child.kill()
        child.wait(timeout=10)
    why = f"run {h} holds no event: its writer died before its first write"
    for args in (["runs", "rm", "-y", h], ["runs", "close", h], ["runs", "cp", h, "-d", str(dest)],
                 ["runs", "mv", h, "-d", str(dest)], ["runs", "restore", h]):
        user_error(cli(*args, repo=p), why)
    user_error(cli("runs", "show", h, repo=p), why)
    assert_unwritten(p, h)  # nothing was appended: no run made of a lone tombstone
    assert listed(p) == {other}
    out = ok(cli("runs", "ls", "--corrupted", "--json", repo=p)).stdout
    corrupted = [json.loads(ln) for ln in out.splitlines()]
    assert [c["hash"] for c in corrupted] == [h] and corrupted[0]["problems"][0]["kind"] == "orphan"
    proc = ok(cli("runs", "rm", "--corrupted", "-y", repo=p))
    assert h in proc.stdout and "removed (held no event)" in proc.stdout
    assert not (p / ".aim" / "runs" / h).exists()
    assert read_loss(p, other) == [7.0]
    assert ok(cli("storage", "verify", repo=p)).stdout == ""


@pytest.mark.parametrize("where", ["group", "subcommand"])
def test_the_refusal_reads_the_same_with_either_repo_position(repo_path, where):
    with unwritten_run(repo_path) as (child, h):
        args = (["runs", "--repo", str(repo_path), "close", h] if where == "group"
                else ["runs", "close", h, "--repo", str(repo_path)])
        user_error(run_cli(*args), f"run {h} is open for writing by process {child.pid}")
