"""Smaller differences that broke code written for Aim (issue 14, point 6)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from aim import Run


@pytest.mark.parametrize("interval", [0, -1, 0.05, 2 * 24 * 3600])
def test_a_system_tracking_interval_aim_disables_warns_and_disables(repo_path, interval):
    with pytest.warns(UserWarning, match="disables system tracking") as warned:
        run = Run(repo=repo_path, system_tracking_interval=interval, capture_terminal_logs=False)
    assert warned[0].filename == __file__  # points at the caller's line
    run.track(1.0, name="loss")
    run.close()
    names = {name for name, _, _run in Run(run.hash, repo=repo_path, read_only=True).iter_metrics_info()}
    assert names == {"loss"}


def test_a_system_tracking_interval_that_is_not_a_number_is_refused(repo_path):
    with pytest.raises(TypeError, match="system_tracking_interval"):
        Run(repo=repo_path, system_tracking_interval="10")  # type: ignore[arg-type]


def test_the_first_system_sample_is_taken_when_the_run_starts(repo_path):
    run = Run(repo=repo_path, system_tracking_interval=3600, capture_terminal_logs=False)
    run.track(1.0, name="loss")
    deadline = time.monotonic() + 5
    while ("__system__cpu", {}) not in [(m.name, m.context) for m in run.metrics()] \
            and time.monotonic() < deadline:
        time.sleep(0.01)  # the sampler thread records it, right after the start
    run.close()  # long before the first interval ends
    back = Run(run.hash, repo=repo_path, read_only=True)
    cpu = back.get_metric("__system__cpu")
    assert cpu.steps == [0]
    assert cpu.timestamps[0] - back.creation_time < 0.5


def test_aim_sdk_import_paths_of_aims_docs():
    code = ("from aim.sdk import Run, Repo; from aim.sdk.run import Run as R; "
            "from aim.sdk.repo import Repo as P; import aim; "
            "assert Run is R is aim.Run and Repo is P is aim.Repo; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "ok", proc.stderr
