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

