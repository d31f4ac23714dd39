"""``aim storage verify`` compares every index row with a replay of its run's log.

The index is a disposable projection; when a row disagrees with the log (a writer that recorded
a status the log does not hold, an edit, a bug), verify names the run and the field, and
``--repair`` re-materializes the row from the log. The rows are edited here with sqlite3.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from aim import Run
from tests.cli.test_manage_runs import cli, held_run, ls_json, make_run, ok

EDITS = {
    # column: (SQL value, what verify must print for the index side)
    "status": ("'failed'", "status: index 'failed', log 'finished'"),
    "experiment": ("'elsewhere'", "experiment: index 'elsewhere', log 'exp'"),
    "name": ("'renamed'", "name: index 'renamed', log 'resnet'"),
    "archived": ("1", "archived: index 1, log 0"),
    "deleted": ("1", "deleted: index 1, log 0"),
    "tags": ("'[\"other\"]'", "tags: index '[\"other\"]', log '[\"baseline\"]'"),
    "params": ("'{}'", "params: index '{}', log '{\"hparams\":{\"lr\":0.1}}'"),
    "end_time": ("NULL", "end_time: index None, log "),
}


def edit_index(repo: Path, sql: str, *args: object) -> None:
    db = sqlite3.connect(repo / ".aim" / "index" / "index.sqlite")
    try:
        with db:
            assert db.execute(sql, args).rowcount == 1
    finally:
        db.close()


def a_run(repo: Path) -> str:
    with Run(repo=repo, experiment="exp", system_tracking_interval=None, capture_terminal_logs=False) as run:
        run.name = "resnet"
        run.add_tag("baseline")
        run["hparams"] = {"lr": 0.1}
        run.track(0.5, name="loss", context={"subset": "train"})
    return run.hash


@pytest.mark.parametrize("column", sorted(EDITS))
def test_a_run_row_that_disagrees_with_the_log_is_named_and_repaired(repo_path, column):
    p = repo_path
    h, other = a_run(p), make_run(p, values=[1.0])
    value, says = EDITS[column]
    edit_index(p, f"UPDATE runs SET {column} = {value} WHERE hash = ?", h)

    proc = cli("storage", "verify", repo=p)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout  # one line: the run, the field, both values
    assert lines[0].startswith(f"index_drift  index:{h}: index differs from the log in: run row")
    assert says in lines[0] and other not in lines[0], lines[0]
    report = [json.loads(ln) for ln in cli("storage", "verify", "--json", repo=p).stdout.splitlines()]
    assert [(r["kind"], r["where"], r["fixed"]) for r in report] == [("index_drift", f"index:{h}", False)]

    proc = ok(cli("storage", "verify", "--repair", repo=p))
    assert proc.stdout.rstrip().endswith("(fixed)") and "1 problem(s), 1 fixed" in proc.stderr
    proc = ok(cli("storage", "verify", repo=p))
    assert proc.stdout == "" and "no problems" in proc.stderr
    row = {r["hash"]: r for r in ls_json(p)}[h]
    assert (row["status"], row["experiment"], row["name"], row["tags"]) == (
        "finished", "exp", "resnet", ["baseline"])


def test_sequence_rows_are_compared_too(repo_path):
    p = repo_path
    h = a_run(p)
    edit_index(p, "UPDATE sequences SET last_value = '9.0' WHERE hash = ?", h)
    proc = cli("storage", "verify", repo=p)
    assert proc.returncode == 1 and proc.stdout.startswith(f"index_drift  index:{h}: ")
    assert "sequences" in proc.stdout
    ok(cli("storage", "verify", "--repair", repo=p))
    info = json.loads(ok(cli("runs", "show", h, "--json", repo=p)).stdout)
    assert info["sequences"][0]["last_value"] == 0.5


def test_a_killed_writers_sequence_rows_that_never_reached_the_log_go_at_the_heal(repo_path):
    # A writer indexes a new sequence when it is tracked (the first system sample, say), which
    # can be before its event reaches the log; killed then, it leaves a row the log never had.
    # The heal that marks it crashed rebuilds its rows from the log, dropping that one.
    p = repo_path
    with held_run(p) as (child, h):
        child.kill()
        child.wait(timeout=10)
        edit_index(p, "INSERT INTO sequences VALUES (?, 'never_logged', '{}', 1, 0, '3.5')", h)
        edit_index(p, "UPDATE runs SET status = 'running' WHERE hash = ?", h)
        assert {r["hash"]: r["status"] for r in ls_json(p)} == {h: "crashed"}  # ls heals
        proc = cli("storage", "verify", repo=p)
        assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr
        db = sqlite3.connect(p / ".aim" / "index" / "index.sqlite")
        try:
            names = {row[0] for row in db.execute("SELECT name FROM sequences WHERE hash = ?", (h,))}
        finally:
            db.close()
        assert names == {name for name, _, _run in Run(h, repo=p, read_only=True).iter_metrics_info()}
        assert "never_logged" not in names and "loss" in names
