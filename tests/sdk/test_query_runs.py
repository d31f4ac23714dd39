"""``Repo.query_runs`` and ``aim runs ls --query``: Aim's run queries against a real repository."""

from __future__ import annotations

import json

import pytest

from aim import Repo, Run
from aim.errors import QueryError
from tests.conftest import run_cli

RUNS = [  # experiment, lr, batch size, tags, final train loss, accuracy
    ("cifar10", 0.001, 64, ["baseline"], 0.25, 0.9),
    ("cifar10", 0.01, 32, [], 0.75, 0.6),
    ("mnist", 0.0001, 128, ["baseline", "small"], 0.1, 0.99),
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[Repo, list[str]]:
    path = tmp_path_factory.mktemp("query") / "repo"
    path.mkdir()
    hashes = []
    for experiment, lr, batch, tags, loss, acc in RUNS:
        with Run(repo=path, experiment=experiment, system_tracking_interval=None,
                 capture_terminal_logs=False) as run:
            run["hparams"] = {"lr": lr, "batch_size": batch}
            run["learning_rate"] = lr
            for tag in tags:
                run.add_tag(tag)
            for step in range(3):
                run.track(loss * (3 - step), name="loss", step=step, context={"subset": "train"})
            run.track(acc, name="accuracy")
        hashes.append(run.hash)
    return Repo.from_path(path), hashes


@pytest.mark.parametrize("query,expected", [
    ("", [0, 1, 2]),
    ("run.hparams.lr > 0.0001 and run.hparams.batch_size > 32", [0]),
    ("run.learning_rate in [0.0001, 0.01]", [1, 2]),
    ('run.experiment == "cifar10"', [0, 1]),
    ('"baseline" in run.tags', [0, 2]),
    ('run.metrics["loss", {"subset": "train"}].last < 0.5', [0, 2]),
    ('run.metrics["accuracy"].last > 0.8', [0, 2]),
    ("run.duration < 600 and run.created_at.year >= 2026 and not run.active", [0, 1, 2]),
    ("run.hparams.momentum == None", [0, 1, 2]),  # a param no run has: None-like
    ("run.hparams.momentum > 0.5", []),
])
def test_query_runs_returns_what_aims_docs_say(repo, query, expected):
    r, hashes = repo
    found = r.query_runs(query)
    assert [item.hash for item in found.iter_runs()] == [hashes[i] for i in expected]
    for item in found.iter_runs():  # Aim's shape: each item has .run
        assert item.run.hash == item.hash and item.run["hparams"]["lr"] in {0.001, 0.01, 0.0001}


def test_a_bad_query_raises_query_error_naming_the_column(repo):
    r, _ = repo
    with pytest.raises(QueryError, match="at column 1") as raised:
        r.query_runs("__import__('os')")
    assert isinstance(raised.value, ValueError)


def test_runs_ls_query_from_the_command_line(repo):
    r, hashes = repo
    proc = run_cli("runs", "ls", "--repo", str(r.root_path), "--query",
                   'run.hparams.batch_size >= 64 and run.experiment == "cifar10"', "--json")
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["hash"] for line in proc.stdout.splitlines()] == [hashes[0]]
    bad = run_cli("runs", "ls", "--repo", str(r.root_path), "-q", "run.__class__")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[0].startswith("error: invalid query at column"), bad.stderr


def test_rm_and_cp_choose_runs_by_query(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    hashes = []
    for lr in (0.1, 0.01, 0.001):
        with Run(repo=src, system_tracking_interval=None, capture_terminal_logs=False) as run:
            run["hparams"] = {"lr": lr}
        hashes.append(run.hash)
    assert run_cli("init", "--repo", str(dest)).returncode == 0
    cp = run_cli("runs", "cp", "--repo", str(src), "--query", "run.hparams.lr < 0.05", "-d", str(dest))
    assert cp.returncode == 0, cp.stderr
    assert sorted(Repo.from_path(dest).list_all_runs()) == sorted(hashes[1:])
    rm = run_cli("runs", "rm", "--repo", str(src), "-y", "-q", "run.hparams.lr >= 0.01")
    assert rm.returncode == 0, rm.stderr
    assert Repo.from_path(src).list_all_runs() == [hashes[2]]
    bad = run_cli("runs", "rm", "--repo", str(src), "-y", "-q", "open('x')")
    assert bad.returncode == 1 and "calling 'open' is not allowed" in bad.stderr
    assert Repo.from_path(src).list_all_runs() == [hashes[2]]  # nothing removed


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_async_repo_query_runs(repo, anyio_backend):
    from aim import AsyncRepo

    r, hashes = repo
    ar = await AsyncRepo.from_path(r.root_path)
    found = await ar.query_runs('run.experiment == "mnist"')
    assert [item.hash for item in found.iter_runs()] == [hashes[2]]
