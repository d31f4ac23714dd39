"""A run whose object is gone is closed, with status finished (issue 14, as Aim does): the
flusher, the capture and the exit hooks must not keep it alive."""

from __future__ import annotations

import subprocess
import sys

from aim import Repo, Run
from aim.storage.lock import is_locked
from tests.conftest import CHILDREN, run_child


def test_del_run_closes_it_and_it_reopens_by_hash_in_the_same_process(repo_path):
    proc = run_child("unreferenced_child.py", str(repo_path), "del")
    assert proc.returncode == 0, proc.stderr
    run_hash, said = proc.stdout.split()[-3], proc.stdout.splitlines()[-1]
    assert said == "reopened finished"
    back = Run(run_hash, repo=repo_path, read_only=True)
    assert back.status == "finished"
    assert back.get_metric("loss").steps == list(range(11))
    assert any(name.startswith("__system__") for name, _, _run in back.iter_metrics_info())  # it captured


def test_rebinding_run_in_a_loop_closes_every_previous_run_while_the_process_lives(repo_path):
    script = str(CHILDREN / "unreferenced_child.py")
    child = subprocess.Popen([sys.executable, script, str(repo_path), "rebind"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        hashes = child.stdout.readline().split()  # type: ignore[union-attr]
        assert child.stdout.readline().strip() == "ready", child.stderr.read()  # type: ignore[union-attr]
        assert len(hashes) == 100
        layout = Repo(repo_path).layout
        locked = [h for h in hashes if is_locked(layout.lock_file(h))]
        assert locked == hashes[-1:]  # only the run still bound to `run`
        statuses = {r["hash"]: r["status"] for r in Repo(repo_path).list_runs(include_starting=True)}
        assert [statuses[h] for h in hashes[:-1]] == ["finished"] * 99
        assert statuses[hashes[-1]] == "running"
        for h in hashes[:-1:33]:  # closed for real: each reopens for writing
            with Run(h, repo=repo_path, system_tracking_interval=None, capture_terminal_logs=False) as run:
                assert run["i"] == hashes.index(h)
    finally:
        child.communicate("\n", timeout=60)
    assert child.returncode == 0
    assert Run(hashes[-1], repo=repo_path, read_only=True).status == "finished"  # closed at exit
