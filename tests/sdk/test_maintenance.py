"""Run management through the SDK: the cheap path, crashed runs, leftovers, refusals."""

from __future__ import annotations

import pytest

from aim import AimError, Repo, Run, RunClosedError
from aim.sdk import indexer, maintenance
from aim.sdk.log import iter_events


def _make(repo_path, n=3, **kw):
    hashes = []
    for i in range(n):
        with Run(repo=repo_path, **kw) as run:
            run["hp"] = {"i": i}
            run.track(float(i), name="loss")
        hashes.append(run.hash)
    return hashes


def test_delete_of_a_cleanly_closed_run_does_not_replay_its_log(repo_path, monkeypatch):
    (h,) = _make(repo_path, 1)
    repo = Repo(repo_path)
    assert repo.index.run_row(h) is not None  # open (and heal) before replay is forbidden

    def no_replay(*a, **k):
        raise AssertionError("delete replayed the log")

    monkeypatch.setattr(indexer, "replay_run", no_replay)
    assert repo.delete_run(h) is True
    monkeypatch.undo()
    events = list(iter_events(repo.layout.segment_paths(h)))
    assert events[-1]["type"] == "run.deleted" and events[-1]["seq"] == events[-2]["seq"] + 1
    assert len(repo.layout.segment_paths(h)) == 2  # the tombstone is a segment of its own
    fresh = Repo(repo_path)
    before = fresh.index.run_rows(include_deleted=True)
    fresh.reindex()
    assert Repo(repo_path).index.run_rows(include_deleted=True) == before


def test_delete_restore_are_idempotent_and_resume_of_deleted_is_refused(repo_path):
    (h,) = _make(repo_path, 1)
    repo = Repo(repo_path)
    assert repo.delete_run(h) and repo.delete_run(h)
    assert [e["type"] for e in iter_events(repo.layout.segment_paths(h))].count("run.deleted") == 1
    with pytest.raises(RunClosedError, match="deleted"):
        Run(h, repo=repo_path)
    assert repo.restore_run(h) and repo.restore_run(h)
    assert repo.get_run(h) is not None
    with Run(h, repo=repo_path) as run:
        run.track(9.0, name="loss")
    assert repo.get_run(h).get_metric("loss").values == [0.0, 9.0]


def test_crashed_run_is_replayed_repaired_and_closed(repo_path):
    run = Run(repo=repo_path, flush_interval=60)
    run.track(1.0, name="m")
    run.flush()
    run._detach_after_fork()  # as if the process died: lock dropped, nothing more written
    seg = run.repo.layout.segment_paths(run.hash)[-1]
    with open(seg, "ab") as fh:
        fh.write(b"\0" * 100)  # a torn tail
    repo = Repo(repo_path)
    assert repo.list_runs()[0]["status"] == "crashed"
    assert maintenance.stale_runs(repo) == [run.hash]
    assert repo.close_runs([run.hash]) == (True, [])
    back = Run(run.hash, repo=repo_path, read_only=True)
    assert back.status == "terminated" and back.get_metric("m").values == [1.0]
    assert repo.verify() == []


def test_live_runs_are_refused_everywhere(repo_path, tmp_path):
    live = Run(repo=repo_path)
    dest = Repo(tmp_path / "dest", init=True)
    repo = Repo(repo_path)
    assert repo.delete_runs([live.hash]) == (False, [live.hash])
    assert repo.copy_runs([live.hash], dest) == (False, [live.hash])
    assert repo.close_runs([live.hash]) == (False, [live.hash])
    out = maintenance.delete(repo, [live.hash])
    assert "open for writing" in out[0].message
    live.close()
    assert repo.delete_run(live.hash)


def test_copy_into_the_same_repo_is_an_error(repo_path):
    (h,) = _make(repo_path, 1)
    with pytest.raises(AimError, match="same repository"):
        Repo(repo_path).copy_runs([h], repo_path)


def test_prune_finishes_a_killed_prune_and_skips_restored_runs(repo_path):
    a, b, c = _make(repo_path, 3)
    repo = Repo(repo_path)
    repo.delete_runs([a, b, c])
    repo.restore_run(c)
    # A prune killed after its rename: the run dir sits in trash/.
    repo.layout.trash.mkdir(exist_ok=True)
    repo.layout.run_dir(a).rename(repo.layout.trash / f"{a}.999999")
    problems = repo.verify()
    assert [p.kind for p in problems] == ["leftover"]
    report = Repo(repo_path).prune()
    assert report.runs == [b] and report.leftovers == 1
    assert sorted(Repo(repo_path).list_all_runs()) == [c]
    assert Repo(repo_path).verify() == []


def test_verify_reports_orphans_and_repair_removes_leftovers(repo_path):
    _make(repo_path, 1)
    repo = Repo(repo_path)
    (repo.layout.runs / "not-a-run").mkdir()
    repo.layout.tmp.mkdir(exist_ok=True)
    (repo.layout.tmp / "0123456789abcdef01234567.999999").mkdir()
    kinds = sorted(p.kind for p in repo.verify())
    assert kinds == ["leftover", "orphan"]
    fixed = repo.verify(repair=True)
    assert [p.fixed for p in fixed if p.kind == "leftover"] == [True]
    assert [p.kind for p in repo.verify()] == ["orphan"]  # never deletes what it did not make


@pytest.mark.parametrize("pattern,expect", [("*", "all"), ("zz", "invalid"), ("../x", "invalid")])
def test_resolve_hashes(pattern, expect):
    cands = ["aa" + "0" * 22, "ab" + "0" * 22, "b" + "1" * 23]
    got, errors = maintenance.resolve_hashes(cands, [pattern])
    if expect == "all":
        assert got == cands and errors == []
    else:
        assert got == [] and "invalid" in errors[0].message
    assert maintenance.resolve_hashes(cands, ["a"])[1][0].message.startswith("prefix 'a' is ambiguous")
    assert maintenance.resolve_hashes(cands, ["ab"])[0] == [cands[1]]
    assert maintenance.resolve_hashes(cands, ["a?1*"])[1][0].message == "no run matches 'a?1*'"
    assert maintenance.resolve_hashes(cands, ["a[ab]*"])[0] == cands[:2]


def test_a_move_killed_before_removing_the_source_is_finished_by_a_retry(repo_path, tmp_path):
    a, b = _make(repo_path, 2)
    repo, dest = Repo(repo_path), Repo(tmp_path / "dest", init=True)
    assert repo.copy_runs([a, b], dest) == (True, [])  # the state a kill after placing leaves
    seg = dest.layout.segment_paths(b)[0]
    data = seg.read_bytes()
    seg.unlink()  # a hard link: replace it rather than change the source's bytes too
    seg.write_bytes(data + b"x")  # b's destination copy now differs: never remove its source
    assert repo.move_runs([a, b], dest) == (False, [b])
    assert not repo.has_run(a) and dest.has_run(a) and repo.has_run(b)
    assert Repo(tmp_path / "dest").get_run(a).get_metric("loss").values == [0.0]


def test_a_delete_retried_after_a_kill_heals_the_index_row(repo_path):
    (h,) = _make(repo_path, 1)
    repo = Repo(repo_path)
    assert repo.delete_run(h)
    repo.index.update_run(h, deleted=0)  # the row as a kill before the index update leaves it
    assert h in Repo(repo_path).list_all_runs()
    assert repo.delete_run(h)  # "already deleted" in the log: the row is brought in line
    assert h not in Repo(repo_path).list_all_runs()
