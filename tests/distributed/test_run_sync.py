"""``Run(..., sync="s3://bucket/prefix")``: a writer ships its own stream's sealed segments while
it runs and the rest at close, to a real S3 API on loopback (moto); a failing store is said,
never silent, and loses nothing local."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from aim import Repo, Run
from aim.remote.keys import InvalidRemoteNameError
from aim.sdk import distributed
from tests.distributed.helpers import LAUNCHER_VARS, rank_env
from tests.remote.conftest import s3_client

QUIET: dict[str, Any] = {"system_tracking_interval": None, "capture_terminal_logs": False}


def _keys(endpoint: str, bucket: str) -> list[str]:
    client = s3_client(endpoint)
    try:
        listed = client.list_objects_v2(Bucket=bucket, Prefix="p/runs/")
    except client.exceptions.NoSuchBucket:
        return []
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_a_run_ships_while_it_runs_and_at_close(repo_path: Path, tmp_path: Path, s3_server: str,
                                                s3_env: dict[str, str], bucket: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIM_S3_ENDPOINT_URL", s3_server)
    run = Run(repo=repo_path, sync=f"s3://{bucket}/p", sync_interval=0.3, segment_max_age=0.3, **QUIET)
    deadline = time.monotonic() + 20
    step = 0
    while not _keys(s3_server, bucket) and time.monotonic() < deadline:
        for _ in range(50):
            run.track(float(step), name="loss", step=step)
            step += 1
        time.sleep(0.05)
    live = _keys(s3_server, bucket)
    assert live, "nothing was shipped while the run was live"
    assert all(k.startswith(f"p/runs/{run.hash}/events/") for k in live)
    run.close()
    layout = Repo(repo_path).layout
    local = sorted(f"p/runs/{run.hash}/events/{p.name}" for p in layout.segment_paths(run.hash))
    assert _keys(s3_server, bucket) == local  # the close shipped the rest
    copy = Repo(f"s3://{bucket}/p")
    metric = copy.get_run(run.hash).get_metric("loss")
    assert metric is not None and list(metric.values) == [float(s) for s in range(step)]


def test_each_rank_ships_its_own_stream(repo_path: Path, s3_server: str, s3_env: dict[str, str],
                                        bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIM_S3_ENDPOINT_URL", s3_server)
    h = distributed.job_run_hash("torchrun:sync-job", 0)
    for rank in (1, 0):
        env = rank_env(rank, 2, "sync-job", 2)
        for k in LAUNCHER_VARS:
            monkeypatch.setenv(k, env[k]) if k in env else monkeypatch.delenv(k, raising=False)
        with Run(run_hash=h, repo=repo_path, sync=f"s3://{bucket}/p", **QUIET) as run:
            run.track(float(rank), name="loss")
        if rank == 1:  # rank 0 has not run yet: rank 1 shipped only its own stream
            mine = Repo(repo_path).layout.stream_segment_paths(h, "rank-1")
            assert mine and _keys(s3_server, bucket) == sorted(
                f"p/runs/{h}/streams/rank-1/events/{p.name}" for p in mine)
    assert {k.split("/")[3] for k in _keys(s3_server, bucket)} == {"events", "streams"}


def test_a_bad_location_is_refused_at_the_call_and_a_failing_store_loses_nothing(
        repo_path: Path, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="sync must be"):
        Run(repo=repo_path, sync="bucket-without-scheme", **QUIET)
    with pytest.raises(InvalidRemoteNameError):
        Run(repo=repo_path, sync="s3://bucket/../up", **QUIET)
    with pytest.raises(ValueError, match="sync_interval"):
        Run(repo=repo_path, sync="s3://fine-bucket/p", sync_interval=0, **QUIET)
    monkeypatch.setenv("AIM_S3_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AIM_S3_MAX_ATTEMPTS", "1")
    with (pytest.warns(RuntimeWarning, match="sync to unreachable failed"),
          Run(repo=repo_path, sync="s3://unreachable/p", **QUIET) as run):
        run.track(1.0, name="loss")
    metric = Repo(repo_path).get_run(run.hash).get_metric("loss")
    assert metric is not None and list(metric.values) == [1.0]
