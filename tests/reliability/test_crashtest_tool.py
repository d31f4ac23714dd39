"""``tools/crashtest.py`` at a reduced size: one trial per phase and byte faults at a stride (the
full run is ``python -m tools.crashtest --trials 500``; its figures are in docs/guarantees.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _crashtest(*args: str, timeout: float = 400) -> tuple[int, dict]:
    # As documented: a module, from the repository root (it imports the harness in tests.crash).
    proc = subprocess.run([sys.executable, "-m", "tools.crashtest", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no report (exit {proc.returncode}): {proc.stderr[-3000:]}"
    return proc.returncode, json.loads(lines[-1])


def test_one_kill_in_every_phase_and_the_byte_faults_keep_every_promise(tmp_path: Path) -> None:
    rc, report = _crashtest("--trials", "11", "--quick", "--jobs", "2", "--fault-stride", "32",
                            "--repo-dir", str(tmp_path))
    assert rc == 0 and report["failures"] == 0, report["failed"]
    assert report["corrupt_repos"] == 0 and report["lost_durable_events"] == 0
    assert set(report["phases"]) == {"create", "track", "rotate", "resume", "delete", "prune", "copy",
                                     "move", "upload", "fork", "rewind"}
    assert all(p == {"trials": 1, "failures": 0} for p in report["phases"].values()), report["phases"]
    assert report["kills"] >= 11
    faults = report["byte_faults"]
    assert faults["truncations"] >= 3 and faults["flips"] >= 3 and faults["zeros"] and faults["garbage"]
    assert set(report["calibration"]) >= {"open_create_s", "open_resume_s", "delete_s", "upload_s", "fork_s",
                                          "rewind_s"}


def test_a_broken_promise_is_reported_and_fails_the_run(tmp_path: Path) -> None:
    # A negative slack makes the loss-bound check fail on any kill: the tool must say so.
    rc, report = _crashtest("--trials", "1", "--phases", "track", "--quick", "--fault-stride", "0",
                            "--loss-slack", "-1", "--repo-dir", str(tmp_path))
    assert rc == 1 and report["failures"] == 1
    failed = report["failed"][0]
    assert failed["phase"] == "track" and "flush interval" in failed["error"]
    assert Path(failed["dir"]).is_dir(), "a failed trial's folder is kept for inspection"


def test_run_as_a_script_it_says_how_to_run_it() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "crashtest.py"), "--trials", "1"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 1 and "python -m tools.crashtest" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_tool_and_its_harness_import_without_pytest() -> None:
    # tools/crashtest.py shares tests/crash/{checks,faults,manage_checks,upload_checks}.py with
    # the tests; they must not pull pytest (or conftest fixtures) into the tool.
    code = ("import sys, tools.crashtest\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest') "
            "or m == 'tests.conftest')\n"
            "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
