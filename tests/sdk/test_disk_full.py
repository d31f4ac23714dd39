"""A full disk: training gets one clear warning, not a crash or a stall; close() reports the
failure; what was written before is intact; after space is freed the run resumes."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from aim import Run
from tests.conftest import CHILDREN


@pytest.fixture
def small_fs(tmp_path: Path):
    mnt = tmp_path / f"mnt-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_full_disk_warns_once_drops_instead_of_stalling_and_the_run_resumes(small_fs):
    repo = small_fs / "repo"
    Run(repo=repo, system_tracking_interval=None, capture_terminal_logs=False).close()  # create it
    filler = small_fs / "filler"
    free = os.statvfs(small_fs).f_bavail * os.statvfs(small_fs).f_frsize
    filler.write_bytes(b"\0" * max(0, free - 300 * 1024))  # leave ~300 KiB
    n = 200_000  # ~1.8 MB of events: far more than fits
    proc = subprocess.run([sys.executable, str(CHILDREN / "disk_full_child.py"), str(repo), str(n)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0].startswith(f"tracked {n}")  # the loop was never stalled
    assert out[1].startswith("close failed:") and "events dropped while writes were failing" in out[1]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("aim: warning:")]
    assert len(warnings) == 1 and "No space left on device" in warnings[0]
    run_hash = out[2]
    durable = Run(run_hash, repo=repo, read_only=True).get_metric("loss")
    rng = random.Random(7)
    expected = [rng.random() for _ in range(n)]
    k = len(durable.steps)
    assert 0 < k < n
    assert durable.steps == list(range(k)) and durable.values == expected[:k]  # an intact prefix
    filler.unlink()
    with Run(run_hash, repo=repo, system_tracking_interval=None, capture_terminal_logs=False) as run:
        run.track(123.0, name="loss")
    back = Run(run_hash, repo=repo, read_only=True).get_metric("loss")
    assert back.steps == [*range(k), k] and back.values[-1] == 123.0
