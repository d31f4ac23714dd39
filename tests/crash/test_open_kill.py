"""Kills while a run opens: creating a run (and the repository) or resuming a killed one.

``run_open_kill_trial`` (``checks.py``, also run by ``tools/crashtest.py``) SIGKILLs the child a
chosen time after it said ``OPENING``, then checks the repository opens, what is on disk is a valid
prefix, ``aim storage verify`` reports only what the kill explains and ``--repair`` fixes it, and
the run resumes. The delays are stratified over the measured opening time (x1.3, so some kills
land just after it).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aim import Repo, Run
from aim.errors import RunNotFoundError
from aim.storage.lock import is_locked
from tests.conftest import CHILDREN, run_cli
from tests.crash.checks import TrialConfig, measure_open, run_open_kill_trial

KILLS = 6
_open_seconds: dict[bool, float] = {}


def _window(tmp_path_factory: pytest.TempPathFactory, resume: bool) -> float:
    if resume not in _open_seconds:
        work = tmp_path_factory.mktemp("measure")
        _open_seconds[resume] = min(
            measure_open(work / str(i), TrialConfig(seed=90 + i), resume) for i in range(2))
    return _open_seconds[resume]


@pytest.mark.parametrize("no", range(KILLS))
@pytest.mark.parametrize("resume", [False, True], ids=["create", "resume"])
def test_a_kill_while_a_run_opens_leaves_a_repo_that_verifies_and_resumes(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, resume: bool, no: int) -> None:
    delay = (no + 0.5) / KILLS * 1.3 * _window(tmp_path_factory, resume)
    result = run_open_kill_trial(TrialConfig.random(300 + no, quick=True), tmp_path, resume=resume,
                                 delay=delay, existing=no % 2 == 1)
    if resume:  # the killed run is there whatever the moment: it was created before
        assert result.run_hash is not None and result.resume is not None
    print(f"[{'resume' if resume else 'create'} #{no}] kill {delay * 1000:.1f} ms into opening: "
          f"run on disk={result.run_hash is not None}, opened={result.opened}, verify={result.verify_problems}")


def _killed_before_first_write(repo: Path) -> str:
    proc = subprocess.Popen([sys.executable, str(CHILDREN / "hold_run_child.py"), str(repo), "x",
                             "--before-first-write"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        run_hash = proc.stdout.readline().strip()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    assert run_hash, "the child printed no hash"
    return run_hash


@pytest.mark.parametrize("left", ["no segment", "an empty segment", "part of the first frame"])
def test_run_killed_before_its_first_write_is_refused_on_resume_and_removed_by_verify_repair(
        tmp_path: Path, left: str) -> None:
    """Defects found by the create phase of tools/crashtest.py: a run killed before its first
    frame left ``runs/<hash>/`` without a segment (or with an empty one: seed 333 of the 500-trial
    run); verify called it an orphan it could not repair (exit 1 forever) or said nothing, and
    ``Run(run_hash=...)`` 'resumed' it into a log with no ``run.started``. The segment states
    are what the kill leaves between creating the file and finishing the first write."""
    repo = tmp_path / "repo"
    Repo(repo, init=True).close()
    h = _killed_before_first_write(repo)
    run_dir = repo / ".aim" / "runs" / h
    assert run_dir.is_dir() and not list(run_dir.rglob("*.zst"))
    if left != "no segment":
        other = Run(repo=tmp_path / "other", system_tracking_interval=None, capture_terminal_logs=False)
        other.close()
        frame = next((tmp_path / "other" / ".aim" / "runs").glob("*/events/*.zst")).read_bytes()
        (run_dir / "events").mkdir()
        (run_dir / "events" / "00000000.jsonl.zst").write_bytes(b"" if left == "an empty segment"
                                                                 else frame[: len(frame) // 2])
    with pytest.raises(RunNotFoundError, match="holds no event"):
        Run(run_hash=h, repo=repo)
    assert not (run_dir / "events" / "00000001.jsonl.zst").exists(), "the refused resume wrote a segment"
    first = run_cli("storage", "verify", "--repo", str(repo))
    assert first.returncode == 1 and f"runs/{h}" in first.stdout and "orphan" in first.stdout
    fixed = run_cli("storage", "verify", "--repair", "--repo", str(repo))
    assert fixed.returncode == 0 and "(fixed)" in fixed.stdout, fixed.stdout + fixed.stderr
    assert not run_dir.exists()
    assert run_cli("storage", "verify", "--repo", str(repo)).returncode == 0
    listed = run_cli("runs", "ls", "--repo", str(repo))
    assert listed.returncode == 0 and h not in listed.stdout


def test_a_new_run_directory_appears_already_locked(tmp_path: Path) -> None:
    """A live run that has written nothing yet is not a problem: its lock is held from the
    moment its directory exists (built in tmp/, locked, renamed into runs/)."""
    repo = Repo(tmp_path / "repo", init=True)
    run = Run(repo=repo, flush_interval=300, system_tracking_interval=None, capture_terminal_logs=False)
    try:
        assert is_locked(repo.layout.lock_file(run.hash))
        assert not repo.layout.segment_paths(run.hash)
        assert not list(repo.layout.tmp.iterdir())
        assert repo.verify(repair=True) == []
        assert repo.layout.run_dir(run.hash).is_dir()
    finally:
        run.close()
    assert Run(run.hash, repo=repo, read_only=True).status == "finished"


INIT_LOOP = """
import sys
from pathlib import Path
from aim import Repo
base = Path(sys.argv[1])
print("READY", flush=True)
i = 0
while True:
    Repo(base / f"r{i}", init=True)
    i += 1
"""


def test_a_repository_killed_while_being_created_is_whole_or_absent(tmp_path: Path) -> None:
    """Defect found by the create phase of tools/crashtest.py (seed 270 of the second 500-trial
    run): a kill during the repository's init left ``.aim`` without VERSION, which every command
    then refused ("not an aim-eventlog repository"). Init now builds ``.aim`` beside it and renames
    it into place; the next init sweeps a killed one's folder."""
    base = tmp_path / "repos"
    for delay in (0.05, 0.13, 0.21):
        proc = subprocess.Popen([sys.executable, "-c", INIT_LOOP, str(base)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    made = sorted(base.iterdir())
    assert len(made) > 3, "the child made too few repositories to test anything"
    for folder in made:
        aim_dir = folder / ".aim"
        entries = sorted(p.name for p in aim_dir.iterdir()) if aim_dir.exists() else None
        assert entries in (None, ["VERSION", "index", "runs"]), f"{folder.name}: half-made: {entries}"
        leftovers = list(folder.glob(".aim.init.*"))
        assert len(leftovers) <= 1
        if leftovers:  # the next init completes the repository and sweeps the dead one's folder
            Repo(folder, init=True).close()
            assert not list(folder.glob(".aim.init.*")) and (folder / ".aim" / "VERSION").exists()
    # The folders nearest each kill (sorted by number, the last made) pass the real verify.
    for folder in sorted(made, key=lambda f: int(f.name[1:]))[-3:]:
        if (folder / ".aim").exists():
            assert run_cli("storage", "verify", "--repo", str(folder)).returncode == 0
