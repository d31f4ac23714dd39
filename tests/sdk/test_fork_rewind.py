"""Fork and rewind (docs/fork.md): a fork reads back its parent's first N steps and its own after,
the parent untouched byte for byte; a rewind leaves later points in the log but out of the
run's current history; both survive delete, prune, copy, move, upload and download, and agree
with a reindex and verify."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from aim import Repo, Run, Text
from aim.errors import RunClosedError, RunLockedError
from aim.sdk.fork import fork_run, rewind_run
from aim.web.run_api import run_detail
from tests.conftest import run_cli

QUIET: dict[str, Any] = {"system_tracking_interval": None, "capture_terminal_logs": False}
TRAIN = {"subset": "train"}


def parent_run(repo: Path, steps: int = 10) -> str:
    with Run(repo=repo, experiment="base", **QUIET) as run:
        run["hparams"] = {"lr": 0.1, "layers": 4}
        run.add_tag("baseline")
        run.name = "parent"
        for s in range(steps):
            run.track(float(s), name="loss", step=s, context=TRAIN)
            run.track(s * 10, name="acc", step=s)
            if s % 3 == 0:
                run.track(Text(f"note {s}"), name="notes", step=s)
    return run.hash


def digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file() and p.name != "LOCK":
            h.update(str(p.relative_to(path)).encode() + p.read_bytes())
    return h.hexdigest()


def rows(repo: Repo, h: str) -> dict[str, Any]:
    index = repo.index
    return {"run": index.run_row(h), "seq": index.sequence_rows(h), "obj": index.object_rows(h),
            "keys": index.param_key_rows(h)}


def values(repo: Repo, h: str, name: str = "loss", context: dict | None = None) -> list[tuple[int, Any]]:
    metric = repo.get_run(h).get_metric(name, TRAIN if context is None else context)
    assert metric is not None
    return list(zip(metric.steps, metric.values))


def verify_clean(path: Path) -> None:
    out = run_cli("storage", "verify", "--json", "--repo", str(path))
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr


def test_a_fork_reads_its_parents_first_steps_then_its_own(repo_path: Path) -> None:
    parent = parent_run(repo_path)
    before = digest(repo_path / ".aim" / "runs" / parent)
    with Run(repo=repo_path, fork_from=parent, fork_step=4, **QUIET) as fork:
        assert fork.forked_from == {"hash": parent, "step": 4}
        assert fork["hparams"] == {"lr": 0.1, "layers": 4}  # the writer sees the parent's params
        for s in range(5, 8):
            fork.track(100.0 + s, name="loss", step=s, context=TRAIN)
        fork["hparams", "lr"] = 0.05
    repo = Repo(repo_path)
    assert digest(repo_path / ".aim" / "runs" / parent) == before  # the parent, byte for byte
    assert values(repo, fork.hash) == [(s, float(s)) for s in range(5)] + [(s, 100.0 + s) for s in range(5, 8)]
    assert values(repo, fork.hash, "acc", {}) == [(s, s * 10) for s in range(5)]
    assert values(repo, parent) == [(s, float(s)) for s in range(10)]
    run = repo.get_run(fork.hash)
    assert run.forked_from == {"hash": parent, "step": 4} and run.experiment == "base"
    assert run["hparams"] == {"lr": 0.05, "layers": 4} and run.tags == ["baseline"]
    assert run.name is None and run.status == "finished"
    notes = run.get_text_sequence("notes")  # objects too: steps 0 and 3 only
    assert notes is not None and [s for s, _ in notes.items()] == [0, 3]
    assert repo.get_run(parent).forked_from is None
    assert run_detail(repo, fork.hash)["forked_from"] == {"hash": parent, "step": 4}
    expected = rows(repo, fork.hash)
    repo.reindex()
    assert rows(Repo(repo_path), fork.hash) == expected  # index == reindex
    verify_clean(repo_path)


def test_a_fork_links_its_parents_sealed_files_and_a_fork_of_a_fork_works(repo_path: Path) -> None:
    parent = parent_run(repo_path, steps=20)
    child, _ = fork_run(Repo(repo_path), parent, 15, finished=True)
    runs = repo_path / ".aim" / "runs"
    for seg in (runs / parent / "events").iterdir():
        twin = runs / child / "events" / seg.name
        assert os.stat(twin).st_ino == os.stat(seg).st_ino  # a hard link, not a copy
    own = [p for p in (runs / child).rglob("*") if p.is_file() and os.stat(p).st_nlink == 1]
    assert sum(p.stat().st_size for p in own) < 1_000  # the fork's own bytes: one small segment
    with Run(run_hash=child, repo=repo_path, **QUIET) as again:  # a CLI fork is resumed by hash
        again.track(-1.0, name="loss", step=16, context=TRAIN)
    grandchild, _ = fork_run(Repo(repo_path), child, 5, experiment="deeper", finished=True)
    repo = Repo(repo_path)
    assert values(repo, grandchild) == [(s, float(s)) for s in range(6)]
    assert values(repo, child) == [(s, float(s)) for s in range(16)] + [(16, -1.0)]
    assert repo.get_run(grandchild).experiment == "deeper"
    verify_clean(repo_path)


def test_a_fork_of_a_live_run_takes_what_is_whole_now(repo_path: Path) -> None:
    live = Run(repo=repo_path, **QUIET)
    for s in range(6):
        live.track(float(s), name="loss", step=s, context=TRAIN)
    live.flush()
    child, _ = fork_run(Repo(repo_path), live.hash, 100, finished=True)
    for s in range(6, 9):
        live.track(float(s), name="loss", step=s, context=TRAIN)
    live.close()
    repo = Repo(repo_path)
    assert values(repo, child) == [(s, float(s)) for s in range(6)]  # nothing the parent wrote after
    assert values(repo, live.hash) == [(s, float(s)) for s in range(9)]
    verify_clean(repo_path)


def test_deleting_pruning_copying_and_moving_keep_a_fork_whole(repo_path: Path, tmp_path: Path) -> None:
    parent = parent_run(repo_path)
    child, _ = fork_run(Repo(repo_path), parent, 3, finished=True)
    want = values(Repo(repo_path), child)
    assert run_cli("runs", "rm", parent, "-y", "--repo", str(repo_path)).returncode == 0
    with pytest.raises(RunClosedError, match="deleted"):
        fork_run(Repo(repo_path), parent, 2)  # a deleted run is not forked
    assert run_cli("storage", "prune", "--repo", str(repo_path)).returncode == 0
    assert not (repo_path / ".aim" / "runs" / parent).exists()
    assert values(Repo(repo_path), child) == want  # its links outlive the parent's names
    verify_clean(repo_path)
    other = tmp_path / "other"
    assert run_cli("init", "--repo", str(other)).returncode == 0
    assert run_cli("runs", "mv", child, "--repo", str(repo_path), "--destination", str(other)).returncode == 0
    assert values(Repo(other), child) == want and Repo(other).get_run(child).forked_from["step"] == 3
    verify_clean(other)


def test_upload_and_download_carry_a_fork(repo_path: Path, tmp_path: Path) -> None:
    parent = parent_run(repo_path)
    child, _ = fork_run(Repo(repo_path), parent, 6, finished=True)
    bucket = f"file://{tmp_path / 'bucket'}"
    assert run_cli("runs", "upload", bucket, "--run", child, "--repo", str(repo_path)).returncode == 0
    there = tmp_path / "there"
    down = run_cli("runs", "download", bucket, "--repo", str(there))
    assert down.returncode == 0, down.stderr
    assert values(Repo(there), child) == [(s, float(s)) for s in range(7)]
    assert Repo(there).list_all_runs() == [child]  # the fork alone: it needs no parent
    verify_clean(there)


def test_rewind_leaves_later_points_in_the_log_but_out_of_the_history(repo_path: Path) -> None:
    h = parent_run(repo_path)
    with Run(run_hash=h, repo=repo_path, rewind_to=5, **QUIET) as run:
        assert run.get_metric("loss", TRAIN) is not None
        run.track(-6.0, name="loss", step=6, context=TRAIN)
    repo = Repo(repo_path)
    assert values(repo, h) == [(s, float(s)) for s in range(6)] + [(6, -6.0)]
    assert values(repo, h, "acc", {}) == [(s, s * 10) for s in range(6)]
    tail = run_cli("runs", "tail", h, "--type", "metric", "--name", "loss", "--repo", str(repo_path))
    everything = run_cli("runs", "tail", h, "--all", "--type", "metric", "--name", "loss",
                         "--repo", str(repo_path))
    shown = [orjson.loads(line)["step"] for line in tail.stdout.splitlines()]
    assert shown == [*range(6), 6]
    assert [orjson.loads(line)["step"] for line in everything.stdout.splitlines()] == [*range(10), 6]
    export = run_cli("runs", "export", h, "--format", "jsonl", "--repo", str(repo_path))
    exported = [json.loads(line) for line in export.stdout.splitlines()]
    assert sorted(r["step"] for r in exported if r["name"] == "loss") == [*range(7)]
    expected = rows(repo, h)
    repo.reindex()
    assert rows(Repo(repo_path), h) == expected
    verify_clean(repo_path)


def test_the_cli_forks_and_rewinds_and_refuses_a_live_run(repo_path: Path) -> None:
    parent = parent_run(repo_path)
    out = run_cli("runs", "fork", parent, "--step", "2", "--json", "--repo", str(repo_path))
    assert out.returncode == 0, out.stderr
    child = json.loads(out.stdout)["hash"]
    assert values(Repo(repo_path), child) == [(s, float(s)) for s in range(3)]
    assert Repo(repo_path).run_status(child) == "finished"
    rew = run_cli("runs", "rewind", parent, "--step", "1", "--repo", str(repo_path))
    assert rew.returncode == 0, rew.stderr
    assert values(Repo(repo_path), parent) == [(0, 0.0), (1, 1.0)]
    assert Repo(repo_path).run_status(parent) == "finished"  # a rewind keeps the status
    live = Run(run_hash=parent, repo=repo_path, **QUIET)
    refused = run_cli("runs", "rewind", parent, "--step", "0", "--repo", str(repo_path))
    assert refused.returncode == 1 and "open for writing" in refused.stderr
    live.close()
    bad = run_cli("runs", "fork", parent, "--step", "-1", "--repo", str(repo_path))
    assert bad.returncode == 2
    with pytest.raises(RunLockedError), Run(run_hash=parent, repo=repo_path, **QUIET):
        rewind_run(Repo(repo_path), parent, 0)
    verify_clean(repo_path)


@pytest.mark.parametrize("kwargs, match", [
    ({"fork_step": 3}, "fork_step needs fork_from"),
    ({"fork_from": "a" * 24, "run_hash": "b" * 24}, "fork_from makes a new run"),
    ({"fork_from": "a" * 24, "fork_step": -1}, "int >= 0"),
    ({"rewind_to": 3}, "rewind_to continues a run"),
    ({"run_hash": "b" * 24, "rewind_to": 2.5}, "int >= 0"),
])
def test_bad_fork_and_rewind_arguments_are_refused_at_the_call(repo_path: Path, kwargs: dict,
                                                                match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Run(repo=repo_path, **kwargs, **QUIET)
    assert not (repo_path / ".aim" / "runs").exists() or not any((repo_path / ".aim" / "runs").iterdir())


def test_a_fork_and_a_rewind_of_a_run_several_processes_wrote(repo_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from aim.sdk import distributed
    from tests.distributed.helpers import LAUNCHER_VARS
    from tests.distributed.test_streams import as_rank

    h = distributed.job_run_hash("torchrun:fork-job", 0)
    for rank in (0, 1):
        as_rank(monkeypatch, rank)
        with Run(run_hash=h, repo=repo_path, **QUIET) as run:
            for s in range(6):
                run.track(float(rank * 100 + s), name="loss", step=s)
    for k in LAUNCHER_VARS:
        monkeypatch.delenv(k, raising=False)
    child, _ = fork_run(Repo(repo_path), h, 2, finished=True)
    rewind_run(Repo(repo_path), h, 3)
    repo = Repo(repo_path)
    for rank in (0, 1):
        ctx = {"rank": rank}
        assert values(repo, child, "loss", ctx) == [(s, float(rank * 100 + s)) for s in range(3)]
        assert values(repo, h, "loss", ctx) == [(s, float(rank * 100 + s)) for s in range(4)]
    assert repo.layout.stream_ids(child) == ["", "rank-1"]
    expected = {x: rows(repo, x) for x in (h, child)}
    repo.reindex()
    assert {x: rows(Repo(repo_path), x) for x in (h, child)} == expected
    verify_clean(repo_path)


def test_fork_from_in_a_job_is_refused(repo_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = parent_run(repo_path, steps=3)
    for k, v in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "TORCHELASTIC_RUN_ID": "j"}.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValueError, match="a fork per rank"):
        Run(repo=repo_path, fork_from=parent, fork_step=1, **QUIET)
    assert Repo(repo_path).list_all_runs() == [parent]
