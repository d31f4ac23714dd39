"""A real multi-process training: Lightning DDP on 2 CPU processes (gloo), logged through
``aim.pytorch_lightning.AimLogger``; both ranks' metrics are read back from the one run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aim import Repo
from tests.conftest import CHILDREN
from tests.distributed.helpers import clean_env

STEPS = 6


def test_lightning_ddp_ranks_log_into_one_run(repo_path: Path) -> None:
    env = clean_env()  # Lightning's launcher sets its own variables for rank 1
    proc = subprocess.run([sys.executable, str(CHILDREN / "lightning_ddp_child.py"), str(repo_path)],
                          env=env, capture_output=True, text=True, timeout=240, cwd=repo_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    repo = Repo(repo_path)
    hashes = repo.list_all_runs()
    assert len(hashes) == 1, f"both ranks should join one run, got {hashes}"
    run = repo.get_run(hashes[0])
    assert run.status == "finished" and run.experiment == "ddp"
    assert run["hparams"] == {"lr": 0.05, "hidden": 4}
    assert repo.layout.stream_ids(run.hash) == ["", "rank-1"]
    for rank in (0, 1):
        metric = run.get_metric("loss", {"subset": "train", "rank": rank})
        assert metric is not None, f"rank {rank} logged nothing"
        assert list(metric.steps) == list(range(STEPS))
        assert list(metric.values) == [float(rank * 100 + s) for s in range(STEPS)]
