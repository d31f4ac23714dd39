"""Many machines, one run, no shared filesystem: four repositories on this machine stand for four
machines, each with two ranks of one job and its own ``aim runs upload --follow`` to a real S3
API on loopback (moto); a fifth repository follows the bucket with ``aim runs download
--follow``. The reader sees each rank's durable steps within a segment's age (plus the two
rounds' intervals), and after the job holds exactly the union of the four machines' files."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from aim import Repo
from aim.sdk import distributed
from aim.sdk.log import iter_segment_events
from aim.storage.layout import PRIMARY, RepoLayout, resolve_aim_dir
from tests.conftest import CHILDREN
from tests.distributed.helpers import rank_env

MACHINES, PER_MACHINE = 4, 2
WORLD = MACHINES * PER_MACHINE
SEGMENT_AGE = 1.0  # seconds: each rank seals a segment about this often
INTERVAL = 0.5  # seconds between upload and download rounds
JOB_SECONDS = 8.0


def _aim(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "aim", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _steps(layout: RepoLayout, run_hash: str, stream: str) -> int:
    """Loss steps of one stream in a repository, read from the segments there."""
    if not layout.run_dir(run_hash).is_dir():
        return 0
    return sum(1 for p in layout.stream_segment_paths(run_hash, stream)
               for e in iter_segment_events(p) if e.get("type") == "metric")


def _durable(state: Path, rank: int) -> int:
    try:
        counts = [int(x) for x in (state / f"rank-{rank}.flushed").read_text().split() if x.isdigit()]
    except FileNotFoundError:
        return 0
    return max(counts, default=0)


def _files(layout: RepoLayout, run_hash: str) -> dict[str, bytes]:
    if not layout.run_dir(run_hash).is_dir():
        return {}
    return {layout.run_file_name(run_hash, p): p.read_bytes() for p in layout.run_files(run_hash)}


def test_four_machines_ship_one_run_through_s3_and_a_reader_follows_it(
        tmp_path: Path, s3_server: str, s3_env: dict[str, str], bucket: str) -> None:
    job = f"job-{time.time_ns()}"
    run_hash = distributed.job_run_hash(f"torchrun:{job}", 0)
    machines = [tmp_path / f"machine{m}" for m in range(MACHINES)]
    reader = tmp_path / "reader"
    state = tmp_path / "state"
    state.mkdir()
    remote = ["--endpoint-url", s3_server]
    ranks, syncs = [], []
    for m, repo in enumerate(machines):
        repo.mkdir()
        for local in range(PER_MACHINE):
            rank = m * PER_MACHINE + local
            env = rank_env(rank, WORLD, job, PER_MACHINE)
            ranks.append(subprocess.Popen(
                [sys.executable, str(CHILDREN / "rank_child.py"), str(repo), str(state), str(JOB_SECONDS),
                 str(SEGMENT_AGE)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    time.sleep(1.0)
    for repo in machines:
        syncs.append(_aim("runs", "upload", bucket, *remote, "--follow", "--interval", str(INTERVAL),
                          "--repo", str(repo), env=s3_env))
    follower = _aim("runs", "download", bucket, *remote, "--follow", "--interval", str(INTERVAL),
                    "--repo", str(reader), env=s3_env)
    try:
        # While the job runs: what each rank said was durable reaches the reader within a
        # segment's age and the two rounds (plus slack for a loaded 2-core machine).
        time.sleep(JOB_SECONDS / 2)
        seen_at = {r: _durable(state, r) for r in range(WORLD)}
        deadline = time.monotonic() + SEGMENT_AGE + 2 * INTERVAL + 6.0
        layout = RepoLayout(resolve_aim_dir(reader))
        behind = dict(seen_at)
        while behind and time.monotonic() < deadline:
            behind = {r: n for r, n in behind.items()
                      if _steps(layout, run_hash, PRIMARY if r == 0 else f"rank-{r}") < n}
            time.sleep(0.2)
        assert not behind, f"ranks whose durable steps did not reach the reader in time: {behind}"

        for p in ranks:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        # After the job: the reader holds exactly the union of the machines' run files.
        union: dict[str, bytes] = {}
        for repo in machines:
            union.update(_files(RepoLayout(resolve_aim_dir(repo)), run_hash))
        deadline = time.monotonic() + 30.0
        while _files(layout, run_hash) != union and time.monotonic() < deadline:
            time.sleep(0.3)
        assert sorted(_files(layout, run_hash)) == sorted(union)
        assert _files(layout, run_hash) == union
    finally:
        for p in [*syncs, follower]:
            p.send_signal(signal.SIGINT)
        for p in [*syncs, follower, *ranks]:
            try:
                p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    time.sleep(0.1)
    repo = Repo(reader)
    run = repo.get_run(run_hash)
    assert run.status == "finished" and run.experiment == "dist"
    assert run["ranks"] == {f"r{r}": r for r in range(WORLD)}
    assert run["hparams"]["lr"] == 0.001  # rank 0's
    for rank in range(WORLD):
        metric = run.get_metric("loss", {"subset": "train", "rank": rank})
        assert metric is not None and len(metric) == _durable(state, rank)
        assert list(metric.values) == [float(rank * 1_000_000 + s) for s in range(len(metric))]
