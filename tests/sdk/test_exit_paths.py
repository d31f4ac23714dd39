"""Real child processes leave in every way training code can; nothing tracked is lost."""

from __future__ import annotations

import pytest

from aim import Repo, Run
from tests.conftest import run_child


@pytest.mark.parametrize("mode,status,rc", [
    ("normal", "finished", 0),
    ("exception", "failed", 1),
    ("with_exception", "failed", 1),
    ("with_sys_exit_1", "failed", 1),
    # Outside a `with Run()` scope the exit code of sys.exit() is not visible to atexit
    # handlers, so a deliberate exit is recorded as finished (documented in docs/quickstart.md).
    ("sys_exit_1", "finished", 1),
    ("sigterm", "terminated", 143),
    ("sigint", "terminated", -2),  # Python re-raises SIGINT after an uncaught KeyboardInterrupt
])
def test_exit_path_closes_the_run_with_its_status(repo_path, mode, status, rc):
    proc = run_child("exit_child.py", str(repo_path), mode)
    assert proc.returncode == rc, proc.stderr
    run_hash = proc.stdout.split()[0]
    back = Run(run_hash, repo=repo_path, read_only=True)
    assert back.status == status
    assert back.end_time is not None
    seq = back.get_metric("loss", {"subset": "train"})
    assert seq.steps == list(range(100)) and seq.values == [i * 0.25 for i in range(100)]
    assert Repo(repo_path).list_runs()[0]["status"] == status


def test_forked_child_never_writes_the_parents_run(repo_path):
    proc = run_child("exit_child.py", str(repo_path), "fork")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    run_hash = lines[0]
    assert "child-refused RunClosedError" in lines
    assert "child-exit 0" in lines
    back = Run(run_hash, repo=repo_path, read_only=True)
    # The parent's system samples (the first one is taken at the start) are the parent's own.
    names = {name for name, _, _run in back.iter_metrics_info() if not name.startswith("__system__")}
    assert names == {"loss", "after_fork"}  # nothing from the child
    assert back.status == "finished"
    assert back.get_metric("loss", {"subset": "train"}).steps == list(range(100))
