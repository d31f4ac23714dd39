"""Repo: opening by path or by default, listing and reading runs."""

from __future__ import annotations

import pytest

from aim import Repo, Run


def test_repo_open_default_and_iter(tmp_path, monkeypatch):
    with pytest.raises(Exception, match="no aim repository"):
        Repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    r = Run()  # default repo: created in the working directory
    r.close()
    assert (tmp_path / ".aim" / "VERSION").exists()
    monkeypatch.chdir(tmp_path / "sub")
    repo = Repo.default_repo()
    assert repo.path == tmp_path / ".aim"  # found in a parent
    assert Repo.from_path(tmp_path / ".aim") == Repo.from_path(tmp_path) == repo
    assert [x.hash for x in repo.iter_runs()] == [r.hash]
    assert repo.get_run(r.hash).hash == r.hash



def test_run_repo_is_the_front_door_shared_by_runs_of_one_path(tmp_path):
    from aim import Repo, Run

    a = Run(repo=tmp_path, system_tracking_interval=None, capture_terminal_logs=False)
    b = Run(repo=tmp_path, system_tracking_interval=None, capture_terminal_logs=False)
    a.close()
    b.close()
    assert isinstance(a.repo, Repo) and a.repo is b.repo  # one object, one index connection
    assert sorted(a.repo.query_runs("").hashes()) == sorted([a.hash, b.hash])
    given = Repo(tmp_path)
    assert Run(a.hash, repo=given, read_only=True).repo is given


def test_iter_runs_builds_each_run_exactly_as_its_log_replays(tmp_path):
    # iter_runs builds summaries from index tuples, positionally (indexer.summary_from_values):
    # every field holds a value no other field has, so a shifted position cannot pass.
    import math

    from aim.core.projection import replay
    from aim.sdk.log import iter_segment_events
    from aim.storage.layout import RepoLayout

    with Run(repo=tmp_path, experiment="exp-x", system_tracking_interval=None,
             capture_terminal_logs=False) as run:
        run.name = "name-x"
        run.description = "desc-x"
        run.archived = True
        run.add_tag("tag-x")
        run["hparams"] = {"lr": math.inf, "blob": b"\x00\x01", "layers": [3, 4]}
        run.track(0.5, name="loss", step=2, context={"subset": "train"})
    layout = RepoLayout(tmp_path / ".aim")
    events = (e for p in layout.segment_paths(run.hash) for e in iter_segment_events(p))
    replayed = replay(run.hash, events)
    listed = Repo(tmp_path).iter_runs()
    got = next(listed)
    assert got.read_only and got.hash == run.hash
    assert got.metrics()[0].name == "loss"  # sequences are loaded on first use
    assert vars(got._summary) == vars(replayed)
    assert got.get(("hparams", "blob")) == b"\x00\x01" and got["hparams"]["lr"] == math.inf
    assert next(listed, None) is None
