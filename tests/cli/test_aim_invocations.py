"""Aim's documented command lines, as written, through the real ``aim`` entry point.

From Aim's CLI reference (docs/source/refs/cli.md), its run-management guide (the seed page) and
its click source (aim/cli/{init,runs,storage,version}/commands.py): the repository on the group
(``aim runs --repo P ls``), ``init -y/-s``, ``rm -y``, ``rm --corrupted``, ``ls --corrupted``,
``close -y``, ``reindex -y``, ``version``. Each test checks the effect, not only the exit code.
Upload (``aim runs upload bucket_name_1``) needs the S3 server: tests/remote/test_names.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aim import Repo, Run
from tests.cli.test_manage_runs import (
    frame_bounds,
    held_run,
    listed,
    ls_json,
    make_run,
    ok,
    read_loss,
    user_error,
)
from tests.conftest import run_cli


def aim(*args: str, cwd: Path | None = None, input: str = "", env: dict[str, str] | None = None):
    """``aim ARGS`` exactly as written (no --repo added), stdin empty unless given."""
    return run_cli(*args, cwd=cwd, input=input, env=env)


def damage_middle_frame(repo: Path) -> str:
    """A run whose single segment has a flipped byte in a frame with valid frames around it."""
    with Run(repo=repo, experiment="damaged", system_tracking_interval=None,
             capture_terminal_logs=False) as run:
        for batch in range(3):
            for i in range(20):
                run.track(float(batch * 100 + i), name="loss")
            run.flush()
    seg = Repo.from_path(repo).layout.segment_paths(run.hash)[0]
    data = bytearray(seg.read_bytes())
    start, end = frame_bounds(data)[1]
    data[(start + end) // 2] ^= 0xFF
    seg.write_bytes(bytes(data))
    return run.hash


# --- aim init ------------------------------------------------------------------------------------
def test_init_in_the_working_directory_and_with_repo(tmp_path):
    here = tmp_path / "here"
    here.mkdir()
    proc = ok(aim("init", cwd=here))
    assert "Initialized" in proc.stdout and (here / ".aim" / "VERSION").is_file()
    there = tmp_path / "there"
    ok(aim("init", "--repo", str(there)))
    assert (there / ".aim" / "VERSION").is_file()
    # Again: left as it is (Aim would ask whether to wipe it; we never wipe without -y).
    h = make_run(there, values=[1.0])
    proc = ok(aim("init", "--repo", str(there)))
    assert proc.stdout.startswith("Already initialized") and listed(there) == {h}


def test_init_skip_if_exists(tmp_path):
    p = tmp_path / "p"
    ok(aim("init", "--repo", str(p), "-s"))  # nothing there yet: initialized
    h = make_run(p, values=[1.0, 2.0])
    proc = ok(aim("init", "--repo", str(p), "--skip-if-exists"))
    assert "skipped initialization" in proc.stdout
    assert listed(p) == {h} and read_loss(p, h) == [1.0, 2.0]


def test_init_yes_reinitializes_to_an_empty_repository(tmp_path):
    p = tmp_path / "p"
    runs = [make_run(p, values=[float(i)]) for i in range(3)]
    ok(aim("runs", "--repo", str(p), "rm", "-y", runs[0]))  # a deleted one goes too
    proc = ok(aim("init", "--repo", str(p), "-y"))
    assert "Re-initialized empty aim repository" in proc.stdout and "removed 3 runs" in proc.stdout
    assert listed(p) == set() and listed(p, "--deleted") == set()
    assert list((p / ".aim" / "runs").iterdir()) == []
    assert ok(aim("storage", "--repo", str(p), "verify")).stdout == ""
    assert json.loads(ok(aim("storage", "names", "--json", "--repo", str(p))).stdout) == {
        "sequences": [], "params": []}
    # Still a working repository.
    h = make_run(p, values=[4.0])
    assert listed(p) == {h}


def test_init_yes_with_skip_is_a_usage_error_on_an_existing_repository(tmp_path):
    p = tmp_path / "p"
    fresh = aim("init", "--repo", str(p), "-y", "-s")  # Aim's rule: no conflict without a repo
    assert fresh.returncode == 0, fresh.stderr
    h = make_run(p, values=[1.0])
    proc = aim("init", "--repo", str(p), "-y", "-s")
    assert proc.returncode == 2 and "conflicting options" in proc.stderr and "Traceback" not in proc.stderr
    assert listed(p) == {h}


def test_init_yes_refuses_while_a_run_is_live(repo_path):
    h = make_run(repo_path, values=[1.0])
    with held_run(repo_path) as (child, live):
        user_error(aim("init", "--repo", str(repo_path), "-y"),
                   f"run {live} is open for writing by process {child.pid}", "nothing was removed")
        assert listed(repo_path) == {h, live}
    assert read_loss(repo_path, h) == [1.0]


# --- aim version ---------------------------------------------------------------------------------
def test_version():
    proc = ok(aim("version"))
    from aim import __version__

    assert proc.stdout.startswith(f"aim {__version__} ")


# --- aim runs --repo P ... -----------------------------------------------------------------------
def test_runs_ls_in_the_working_directory_and_on_the_group(repo_path, tmp_path):
    h = make_run(repo_path, values=[1.0])
    proc = ok(aim("runs", "ls", cwd=repo_path))
    assert h in proc.stdout and "1 run" in proc.stderr
    proc = ok(aim("runs", "--repo", str(repo_path), "ls"))
    assert h in proc.stdout
    # Both given: the subcommand's wins; the group's beats $AIM_REPO.
    other = tmp_path / "other"
    o = make_run(other, values=[2.0])
    assert o in ok(aim("runs", "--repo", str(repo_path), "ls", "--repo", str(other))).stdout
    env = {"AIM_REPO": str(other)}
    assert h in ok(aim("runs", "--repo", str(repo_path), "ls", env=env)).stdout
    assert o in ok(aim("runs", "ls", env=env)).stdout
    # A missing repository given on the group is the usual one-line error.
    user_error(aim("runs", "--repo", str(tmp_path / "missing"), "ls"), "no aim repository")


def test_runs_rm_as_the_seed_writes_it(repo_path):
    p = repo_path
    keep = make_run(p, values=[0.0])
    three = [make_run(p, values=[float(i)]) for i in range(1, 4)]
    # `aim runs rm run_hash_1 run_hash_2 run_hash_3`: Aim asks first; "y" confirms.
    proc = ok(aim("runs", "--repo", str(p), "rm", *three, input="y\n"))
    assert "deleted 3 runs" in proc.stderr
    assert listed(p) == {keep} and listed(p, "--deleted") == set(three)
    ok(aim("runs", "--repo", str(p), "restore", *three))
    ok(aim("runs", "--repo", str(p), "rm", "-y", three[0]))
    ok(aim("runs", "--repo", str(p), "rm", "--yes", three[1][:8] + "*"))
    assert listed(p) == {keep, three[2]}


def test_runs_cp_and_mv_with_the_repo_on_the_group(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    a, b = make_run(src, values=[1.0]), make_run(src, values=[2.0])
    ok(aim("init", "--repo", str(dest)))
    ok(aim("runs", "--repo", str(src), "cp", "--destination", str(dest), a))
    ok(aim("runs", "--repo", str(src), "mv", "--destination", str(dest), b))
    assert listed(src) == {a} and listed(dest) == {a, b}
    assert read_loss(dest, a) == [1.0] and read_loss(dest, b) == [2.0]


def test_runs_close_yes_finishes_a_crashed_run(repo_path):
    with held_run(repo_path) as (child, h):
        child.kill()
        child.wait(timeout=10)
    assert {r["hash"]: r["status"] for r in ls_json(repo_path)} == {h: "crashed"}
    proc = ok(aim("runs", "--repo", str(repo_path), "close", "-y", h))
    assert h in proc.stdout and "closed 1 run" in proc.stderr
    assert {r["hash"]: r["status"] for r in ls_json(repo_path)} == {h: "terminated"}
    assert read_loss(repo_path, h) == [0.0, 0.5, 1.0, 1.5, 2.0]


def test_runs_ls_and_rm_corrupted(repo_path):
    p = repo_path
    good = make_run(p, values=[1.0, 2.0])
    bad = damage_middle_frame(p)
    # A crash's torn tail is not corruption: nothing is lost, the next lock holder cuts it.
    torn = make_run(p, values=[3.0])
    with open(Repo.from_path(p).layout.segment_paths(torn)[-1], "ab") as fh:
        fh.write(b"\x28\xb5\x2f\xfd torn")
    proc = ok(aim("runs", "--repo", str(p), "ls", "--corrupted"))
    rows = [ln for ln in proc.stdout.splitlines()[1:]]
    assert len(rows) == 1 and rows[0].startswith(bad) and "damaged" in rows[0], proc.stdout
    assert "1 corrupted run" in proc.stderr
    out = ok(aim("runs", "ls", "--corrupted", "--json", "--repo", str(p))).stdout
    found = [json.loads(ln) for ln in out.splitlines()]
    assert [f["hash"] for f in found] == [bad]
    assert found[0]["problems"][0]["where"].startswith(f"runs/{bad}/events/")
    # Aim's `aim runs rm --corrupted`: asks first, -y does not.
    declined = aim("runs", "--repo", str(p), "rm", "--corrupted", input="n\n")
    assert declined.returncode == 1 and bad in declined.stdout and listed(p) == {good, bad, torn}
    proc = ok(aim("runs", "--repo", str(p), "rm", "--corrupted", "-y"))
    assert bad in proc.stdout and "deleted 1 run" in proc.stderr
    assert listed(p) == {good, torn} and listed(p, "--deleted") == {bad}  # restorable until prune
    assert read_loss(p, good) == [1.0, 2.0] and read_loss(p, torn) == [3.0]
    # --corrupted chooses the runs itself: with hashes or filters it is a usage error.
    for extra in ([good], ["--experiment", "default"]):
        assert aim("runs", "--repo", str(p), "rm", "--corrupted", "-y", *extra).returncode == 2
    assert aim("runs", "--repo", str(p), "ls", "--corrupted", "--deleted").returncode == 2


# --- aim storage --repo P ... --------------------------------------------------------------------
def test_storage_prune_and_reindex_yes_on_the_group(repo_path):
    p = repo_path
    keep, gone = make_run(p, values=[1.0]), make_run(p, values=[2.0])
    ok(aim("runs", "--repo", str(p), "rm", "-y", gone))
    proc = ok(aim("storage", "--repo", str(p), "prune"))
    assert "removed 1 run" in proc.stdout and not (p / ".aim" / "runs" / gone).exists()
    index = p / ".aim" / "index" / "index.sqlite"
    index.unlink()
    proc = ok(aim("storage", "--repo", str(p), "reindex", "-y"))
    assert "reindexed 1 run" in proc.stdout and index.exists()
    assert [r["hash"] for r in ls_json(p)] == [keep]


@pytest.mark.parametrize("group,sub", [("runs", "ls"), ("runs", "rm"), ("runs", "close"),
                                       ("storage", "reindex"), ("storage", "verify")])
def test_help_names_repo_on_the_group_and_the_subcommand(group, sub):
    assert "--repo" in ok(aim(group, "--help")).stdout
    assert "--repo" in ok(aim(group, sub, "--help")).stdout
