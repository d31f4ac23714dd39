"""Several writers, one run, in one process: the ranks' environment is set around each ``Run()``
(the many-process behaviour is ``test_job_run.py``'s). Covers joining, the merge rule, status,
``ranks="zero"``, system metrics per node, terminal lines per rank, edits, delete, copy and
the names streams get in a bucket."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import orjson
import pytest

from aim import Repo, Run
from aim.core import events as ev
from aim.core.projection import RunSummary, merge_streams
from aim.errors import MetricValueError, RunClosedError
from aim.remote import keys
from aim.sdk import distributed, indexer, maintenance
from aim.storage.layout import PRIMARY, valid_run_file_name
from tests.conftest import run_cli
from tests.distributed.helpers import LAUNCHER_VARS, index_snapshot, rank_env

JOB = "job-test"


def as_rank(monkeypatch: pytest.MonkeyPatch, rank: int, world: int = 4, local_world: int = 2) -> None:
    """This process's environment as torchrun sets it for ``rank`` (and nothing of any other
    launcher's)."""
    env = rank_env(rank, world, JOB, local_world)
    for k in LAUNCHER_VARS:
        if k in env:
            monkeypatch.setenv(k, env[k])
        else:
            monkeypatch.delenv(k, raising=False)


def writer(repo: Path, run_hash: str, **kw: object) -> Run:
    kw.setdefault("system_tracking_interval", None)
    kw.setdefault("capture_terminal_logs", False)
    return Run(run_hash=run_hash, repo=repo, experiment="dist", **kw)  # type: ignore[arg-type]


# --- which run, which stream ----------------------------------------------------------------
def test_job_from_env_reads_torchrun_slurm_and_mpi() -> None:
    torch = distributed.job_from_env({"WORLD_SIZE": "8", "RANK": "5", "LOCAL_RANK": "1",
                                      "TORCHELASTIC_RUN_ID": "abc"})
    assert torch is not None and (torch.rank, torch.local_rank, torch.world_size) == (5, 1, 8)
    assert torch.job_id == "torchrun:abc" and torch.stream == "rank-5"
    slurm = distributed.job_from_env({"SLURM_NTASKS": "4", "SLURM_PROCID": "0", "SLURM_LOCALID": "0",
                                      "SLURM_JOB_ID": "77", "SLURM_STEP_ID": "2"})
    assert slurm is not None and slurm.stream == PRIMARY and slurm.job_id == "slurm:77.2"
    mpi = distributed.job_from_env({"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1"})
    assert mpi is not None and mpi.rank == 1 and mpi.job_id is None
    assert distributed.job_from_env({"WORLD_SIZE": "1", "RANK": "0"}) is None  # one process
    assert distributed.job_from_env({}) is None


def test_torchrun_without_an_id_on_one_node_uses_its_agent() -> None:
    env = {"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "RANK": "1", "TORCHELASTIC_RUN_ID": "none"}
    job = distributed.job_from_env(env)
    assert job is not None and job.job_id is not None and job.job_id.startswith("torchrun-agent:")
    several_nodes = distributed.job_from_env({**env, "LOCAL_WORLD_SIZE": "1"})
    assert several_nodes is not None and several_nodes.job_id is None


def test_the_nth_run_of_a_job_has_its_own_hash_and_an_explicit_hash_wins() -> None:
    env = {"WORLD_SIZE": "2", "RANK": "1", "TORCHELASTIC_RUN_ID": "j"}
    first, job = distributed.resolve(None, "all", env)
    second, _ = distributed.resolve(None, "all", env)
    assert job is not None and first != second and len({first, second}) == 2
    assert first in {distributed.job_run_hash("torchrun:j", n) for n in range(1000)}
    assert distributed.resolve("a" * 24, "all", env)[0] == "a" * 24
    assert distributed.resolve(None, "all", {**env, "AIM_RUN_HASH": "b" * 24})[0] == "b" * 24
    with pytest.raises(ValueError, match="ranks must be one of"):
        distributed.resolve(None, "some", env)


def test_a_job_without_a_shared_id_warns_and_records_a_run_per_rank() -> None:
    with pytest.warns(UserWarning, match="AIM_RUN_HASH"):
        assert distributed.resolve(None, "all", {"OMPI_COMM_WORLD_SIZE": "2"}) == (None, None)


# --- the merge rule ---------------------------------------------------------------------------
def _summary(**kw: object) -> RunSummary:
    s = RunSummary(hash="0" * 24, last_seq=3)
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def test_merge_rank_zero_wins_params_and_status_folds_every_stream() -> None:
    primary = _summary(params={"hp": {"lr": 1, "b": 2}}, tags=["a"], creation_time=10.0,
                       status=ev.STATUS_FINISHED, end_time=20.0)
    other = _summary(params={"hp": {"lr": 9, "c": 3}, "r1": 1}, tags=["b", "a"], creation_time=9.0,
                     status=ev.STATUS_FINISHED, end_time=25.0)
    merged = merge_streams(primary, [other])
    assert merged.params == {"hp": {"lr": 1, "b": 2, "c": 3}, "r1": 1}
    assert merged.tags == ["a", "b"] and merged.creation_time == 9.0 and merged.end_time == 25.0
    assert merged.status == ev.STATUS_FINISHED and merged.last_seq == 7
    for statuses, want in [((ev.STATUS_FINISHED, ev.STATUS_RUNNING), ev.STATUS_RUNNING),
                           ((ev.STATUS_FAILED, ev.STATUS_TERMINATED), ev.STATUS_FAILED),
                           ((ev.STATUS_FINISHED, ev.STATUS_TERMINATED), ev.STATUS_TERMINATED)]:
        ends = [None if st == ev.STATUS_RUNNING else 30.0 + i for i, st in enumerate(statuses)]
        got = merge_streams(_summary(status=statuses[0], end_time=ends[0]),
                            [_summary(status=statuses[1], end_time=ends[1])])
        assert got.status == want
        assert got.end_time == (None if want == ev.STATUS_RUNNING else 31.0)
    assert primary.params == {"hp": {"lr": 1, "b": 2}}  # the inputs are not changed


def test_merge_sums_a_shared_sequence_and_keeps_the_highest_step() -> None:
    key = ("loss", b"{}")
    a = _summary(sequences={key: [5, 5, 0.5, {}]})
    b = _summary(sequences={key: [9, 3, 0.9, {}]})
    assert merge_streams(a, [b]).sequences[key] == [9, 8, 0.9, {}]
    assert merge_streams(b, [a]).sequences[key] == [9, 8, 0.9, {}]


# --- writers in one process ----------------------------------------------------------------------
def test_ranks_join_one_run_and_readers_see_the_merge(repo_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = distributed.job_run_hash("torchrun:" + JOB, 0)
    as_rank(monkeypatch, 1)
    r1 = writer(repo_path, h)  # rank 1 first: it creates the run
    r1["hparams"] = {"lr": 0.2, "wd": 0.1}
    r1.track(1.5, name="loss", step=0, context={"subset": "train"})
    as_rank(monkeypatch, 0)
    r0 = writer(repo_path, h)
    r0["hparams"] = {"lr": 0.1}
    r0.add_tag("ddp")
    r0.name = "job"
    r0.track(0.5, name="loss", step=0, context={"subset": "train"})
    r1.close()
    repo = Repo(repo_path)
    assert repo.list_all_runs() == [h]
    assert repo.run_status(h) == ev.STATUS_RUNNING  # rank 0 still writes
    r0.flush()
    run = repo.get_run(h)
    assert run["hparams"] == {"lr": 0.1, "wd": 0.1} and run.name == "job" and run.tags == ["ddp"]
    assert sorted(m.context.to_dict()["rank"] for m in run.metrics()) == [0, 1]
    got = r0.get_metric("loss", {"subset": "train"})  # a rank reads its own sequence
    assert got is not None and list(got.values) == [0.5]
    assert got.context.to_dict() == {"subset": "train", "rank": 0}
    r0.close()
    assert repo.run_status(h) == ev.STATUS_FINISHED
    layout = repo.layout
    assert layout.stream_ids(h) == [PRIMARY, "rank-1"]
    assert (layout.run_dir(h) / "streams" / "rank-1" / "events").is_dir()
    before = index_snapshot(repo, h)
    repo.reindex()
    assert index_snapshot(Repo(repo_path), h) == before


def test_a_failed_rank_fails_the_run_and_a_dead_one_crashes_it(repo_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    h = distributed.job_run_hash("torchrun:" + JOB, 1)
    as_rank(monkeypatch, 0)
    r0 = writer(repo_path, h)
    as_rank(monkeypatch, 2)
    with pytest.raises(ZeroDivisionError), writer(repo_path, h) as r2:
        r2.track(1.0, name="x")
        raise ZeroDivisionError
    as_rank(monkeypatch, 3)
    r3 = writer(repo_path, h)
    r3.track(1.0, name="x")
    r3.flush()
    r3._detach_after_fork()  # what a killed rank leaves: its events, its lock let go
    r3._run_lock.release()  # type: ignore[union-attr]
    r0.close()
    repo = Repo(repo_path)
    streams = {sid: s.status for sid, s, _ in indexer.replay_run(repo.layout, h)[0].streams}
    assert streams == {PRIMARY: ev.STATUS_FINISHED, "rank-2": ev.STATUS_FAILED, "rank-3": ev.STATUS_RUNNING}
    assert repo.run_status(h) == ev.STATUS_CRASHED  # rank 3 never finished, and no writer lives
    as_rank(monkeypatch, 3)
    writer(repo_path, h).close()  # rank 3 restarted, and finished
    assert Repo(repo_path).run_status(h) == ev.STATUS_FAILED  # rank 2 failed


def test_ranks_zero_records_from_rank_zero_only(repo_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_rank(monkeypatch, 1)
    h = distributed.job_run_hash("torchrun:" + JOB, 7)
    quiet = writer(repo_path, h, ranks="zero")
    assert quiet.hash == h
    quiet.track(1.0, name="loss")
    quiet["hp"] = 1
    with pytest.raises(MetricValueError):
        quiet.track("not a number", name="loss")  # checked as anywhere
    quiet.close()
    assert not (repo_path / ".aim" / "runs" / h).exists()  # nothing written, no lock taken
    as_rank(monkeypatch, 0)
    loud = writer(repo_path, h, ranks="zero")
    loud.track(2.0, name="loss")
    loud.close()
    run = Repo(repo_path).get_run(h)
    assert [m.context.to_dict() for m in run.metrics()] == [{}]  # one writer: contexts as given
    with pytest.raises(ValueError, match="ranks"):
        Run(repo=repo_path, ranks="rank0")


def test_local_rank_zero_samples_its_node_and_lines_carry_the_rank(
        repo_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = distributed.job_run_hash("torchrun:" + JOB, 2)
    as_rank(monkeypatch, 2)  # local rank 0 of the second node
    node = writer(repo_path, h, system_tracking_interval=0.1, capture_terminal_logs=True)
    as_rank(monkeypatch, 3)  # local rank 1: the node is sampled by rank 2
    other = writer(repo_path, h, system_tracking_interval=0.1)
    print("hello from rank 3?")  # captured by rank 2's run (the process's output)
    time.sleep(1.0)
    other.close()
    node.close()
    run = Repo(repo_path).get_run(h)
    system = {(m.name, tuple(sorted(m.context.to_dict())))
              for m in run.metrics() if m.name.startswith("__system__")}
    assert system and all(ctx[0] == "node" for _, ctx in system)
    assert {m.context.to_dict()["node"] for m in run.metrics() if m.name.startswith("__system__")} == {
        socket.gethostname()}
    assert not any(p.stat().st_size and b"__system__" in p.read_bytes()
                   for p in Repo(repo_path).layout.stream_segment_paths(h, "rank-3"))
    out = run_cli("runs", "tail", h, "--repo", str(repo_path), "--type", "log.line")
    lines = [orjson.loads(line) for line in out.stdout.splitlines()]
    assert any(e["line"] == "hello from rank 3?" and e["rank"] == 2 for e in lines), out.stdout


def test_edits_delete_and_copy_of_a_run_of_several_streams(repo_path: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    h = distributed.job_run_hash("torchrun:" + JOB, 3)
    for rank in (0, 1, 2):
        as_rank(monkeypatch, rank)
        with writer(repo_path, h) as r:
            r.track(float(rank), name="loss", step=0)
    monkeypatch.delenv("WORLD_SIZE")
    repo = Repo(repo_path)
    maintenance.edit(repo, h, [(ev.META_SET, {"field": "name", "value": "renamed"}),
                               (ev.TAG_ADDED, {"tag": "x"})])
    assert repo.get_run(h).name == "renamed"
    before = index_snapshot(repo, h)
    repo.reindex()
    repo = Repo(repo_path)
    assert index_snapshot(repo, h) == before
    copy = tmp_path / "copy"
    assert run_cli("init", "--repo", str(copy)).returncode == 0
    out = run_cli("runs", "cp", h, "--repo", str(repo_path), "--destination", str(copy))
    assert out.returncode == 0, out.stderr
    dest = Repo(copy)
    assert dest.layout.stream_ids(h) == [PRIMARY, "rank-1", "rank-2"]
    assert index_snapshot(dest, h)["sequences"] == before["sequences"]
    assert run_cli("runs", "rm", h, "-y", "--repo", str(repo_path)).returncode == 0
    as_rank(monkeypatch, 1)
    with pytest.raises(RunClosedError, match="deleted"):
        writer(repo_path, h)
    verify = run_cli("storage", "verify", "--repo", str(repo_path))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_stream_files_have_names_and_keys_that_round_trip(repo_path: Path) -> None:
    name = "streams/rank-3/00000002.jsonl.zst"
    assert valid_run_file_name(name)
    key = keys.run_file_key("p/", "a" * 24, name)
    assert key == f"p/runs/{'a' * 24}/streams/rank-3/events/00000002.jsonl.zst"
    assert keys.parse_run_file_key("p/", key) == ("a" * 24, name)
    for bad in ("streams/../00000002.jsonl.zst", "streams/Rank/00000002.jsonl.zst",
                "streams/rank-3/x.zst", "streams/rank-3/events/00000002.jsonl.zst"):
        assert not valid_run_file_name(bad)
    assert keys.parse_run_file_key("p/", f"p/runs/{'a' * 24}/streams/../events/00000002.jsonl.zst") is None


def test_one_process_resuming_a_run_of_several_streams_continues_the_primary(
        repo_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h = distributed.job_run_hash("torchrun:" + JOB, 4)
    for rank in (0, 1):
        as_rank(monkeypatch, rank)
        with writer(repo_path, h) as r:
            r["hp"] = {"from": rank}
            r.track(float(rank), name="loss", step=0)
    for k in LAUNCHER_VARS:
        monkeypatch.delenv(k, raising=False)
    with writer(repo_path, h) as again:  # no launcher: an evaluation script, say
        again.track(5.0, name="eval", step=0)
    repo = Repo(repo_path)
    primary = [e for p in repo.layout.stream_segment_paths(h) for e in _events(p)]
    assert [e["seq"] for e in primary] == list(range(len(primary)))  # no gap: its own seq
    run = repo.get_run(h)
    assert run.status == ev.STATUS_FINISHED and run["hp"] == {"from": 0}
    assert sorted((m.name, tuple(m.context.to_dict().items())) for m in run.metrics()) == [
        ("eval", ()), ("loss", (("rank", 0),)), ("loss", (("rank", 1),))]
    before = index_snapshot(repo, h)
    repo.reindex()
    assert index_snapshot(Repo(repo_path), h) == before
    assert run_cli("storage", "verify", "--repo", str(repo_path)).returncode == 0


def _events(path: Path) -> list[dict]:
    from aim.sdk.log import iter_segment_events

    return list(iter_segment_events(path))
