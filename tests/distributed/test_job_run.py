"""Many processes, one run: 16 real rank processes with torchrun's environment write one run,
some are SIGKILLed and restarted, and the merged run is checked against what each rank said
was durable (docs/distributed.md)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from aim import Repo
from aim.sdk import distributed, indexer
from aim.storage.layout import PRIMARY
from tests.conftest import CHILDREN, run_cli
from tests.distributed.helpers import index_snapshot, rank_env

WORLD = 16
SECONDS = 20.0


def _start(repo: Path, state: Path, rank: int, job: str, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILDREN / "rank_child.py"), str(repo), str(state), str(seconds)],
        env=rank_env(rank, WORLD, job), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _flushed(state: Path, rank: int) -> tuple[int, bool]:
    """The most loss steps rank ``rank`` said were durable, and whether it closed."""
    lines = (state / f"rank-{rank}.flushed").read_text().split()
    counts = [int(x) for x in lines if x.isdigit()]
    return (max(counts) if counts else 0), "DONE" in lines


def test_sixteen_ranks_with_kills_and_a_restart_make_one_exact_run(repo_path: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    job = f"job-{os.getpid()}-{time.time_ns()}"
    rng = random.Random(18)
    victims = [0, *sorted(rng.sample(range(1, WORLD), 3))]  # rank 0 (the primary stream) among them
    procs = {r: _start(repo_path, state, r, job, SECONDS) for r in range(WORLD)}
    time.sleep(SECONDS / 3)
    for r in victims:  # killed mid-write, at random moments
        time.sleep(rng.uniform(0.1, 0.8))
        procs[r].send_signal(signal.SIGKILL)
        procs[r].wait()
    killed_at = {r: _flushed(state, r)[0] for r in victims}
    restarted = {r: _start(repo_path, state, r, job, SECONDS / 4) for r in victims}
    for p in [*(procs[r] for r in range(WORLD) if r not in victims), *restarted.values()]:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    run_hash = distributed.job_run_hash(f"torchrun:{job}", 0)

    repo = Repo(repo_path)
    layout = repo.layout
    assert layout.stream_ids(run_hash) == [PRIMARY, *(f"rank-{r}" for r in range(1, WORLD))]
    assert indexer.run_hashes_on_disk(layout) == [run_hash]  # every rank joined the one run

    # Per rank: every step it said was durable is there, in order, each once per incarnation,
    # and the restart carried on where the stream ended.
    for rank in range(WORLD):
        stream = PRIMARY if rank == 0 else f"rank-{rank}"
        durable, closed = _flushed(state, rank)
        assert closed, f"rank {rank} did not finish"
        events = [e for p in layout.stream_segment_paths(run_hash, stream)
                  for e in _events(p)]
        assert [e["seq"] for e in events] == list(range(len(events))), f"rank {rank}: seq"
        steps = [e["step"] for e in events if e["type"] == "metric"]
        assert steps == list(range(len(steps))), f"rank {rank}: steps out of order or repeated"
        assert len(steps) >= durable
        if rank in victims:
            assert len(steps) >= killed_at[rank]
        values = [e["value"] for e in events if e["type"] == "metric"]
        assert values == [float(rank * 1_000_000 + s) for s in steps]
        metric = repo.get_run(run_hash).get_metric("loss", {"subset": "train", "rank": rank})
        assert metric is not None and list(metric.steps) == steps
        assert list(metric.values) == values

    run = repo.get_run(run_hash)
    assert run.status == "finished"
    assert run.experiment == "dist"
    assert run["hparams"] == {"lr": 0.001, "batch": 32}  # rank 0 wins the conflict
    assert run["ranks"] == {f"r{r}": r for r in range(WORLD)}  # every rank's own key merged
    before = index_snapshot(repo, run_hash)
    repo.close()

    Repo(repo_path).reindex()
    after_repo = Repo(repo_path)
    assert index_snapshot(after_repo, run_hash) == before  # index == reindex
    after_repo.close()
    verify = run_cli("storage", "verify", "--repo", str(repo_path), "--json")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert [json.loads(line) for line in verify.stdout.splitlines() if line.strip()] == []


def _events(path: Path) -> list[dict]:
    from aim.sdk.log import iter_segment_events

    return list(iter_segment_events(path))
