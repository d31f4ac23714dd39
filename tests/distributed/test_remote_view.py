"""A repository read straight from a bucket: ``Repo("s3://bucket/prefix")``, ``aim runs ls --repo
s3://...`` and ``aim up --repo s3://...``, against a real S3 API on loopback (moto). The view is
a local cache brought up to date on each open; it refuses writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from aim import Repo, Run
from aim.errors import RemoteError
from tests.conftest import run_cli

QUIET: dict[str, Any] = {"system_tracking_interval": None, "capture_terminal_logs": False}


def _runs(path: Path, n: int, start: int = 0) -> list[str]:
    hashes = []
    for k in range(start, start + n):
        with Run(repo=path, experiment="remote", **QUIET) as run:
            run["hparams"] = {"k": k}
            for s in range(20):
                run.track(k + s / 10, name="loss", step=s, context={"subset": "train"})
        hashes.append(run.hash)
    return hashes


def _ls(repo: str, env: dict[str, str]) -> list[dict[str, Any]]:
    out = run_cli("runs", "ls", "--json", "--repo", repo, env=env)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_a_bucket_reads_as_a_repository_and_refuses_writes(
        tmp_path: Path, s3_server: str, s3_env: dict[str, str], bucket: str, aim_up: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    first = _runs(src, 2)
    env = {**s3_env, "AIM_S3_ENDPOINT_URL": s3_server, "AIM_CACHE_DIR": str(tmp_path / "cache")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    uri = f"s3://{bucket}/team/proj"
    up = run_cli("runs", "upload", uri, "--repo", str(src), env=env)
    assert up.returncode == 0, up.stderr

    view = Repo(uri)
    assert view.remote == uri and sorted(view.list_all_runs()) == sorted(first)
    run = view.get_run(first[1])
    assert run["hparams"] == {"k": 1}
    metric = run.get_metric("loss", {"subset": "train"})
    assert metric is not None and list(metric.values) == [1 + s / 10 for s in range(20)]
    view.close()

    # New runs in the bucket show on the next open (only what is new is fetched).
    second = _runs(src, 1, start=2)
    assert run_cli("runs", "upload", uri, "--repo", str(src), env=env).returncode == 0
    listed = _ls(uri, env)
    assert sorted(r["hash"] for r in listed) == sorted(first + second)
    assert {r["hash"]: r["status"] for r in listed} == {h: "finished" for h in first + second}

    # The view is read-only: runs change where they are written.
    with pytest.raises(ValueError, match="local repository"):
        Run(repo=uri)
    rm = run_cli("runs", "rm", first[0], "-y", "--repo", uri, env=env)
    assert rm.returncode != 0 and "read here from a local view" in (rm.stdout + rm.stderr)
    assert len(_ls(uri, env)) == 3
    with pytest.raises(RemoteError):
        Repo(f"s3://{bucket}-missing/x")

    # aim up serves it, read-only.
    server = aim_up(uri, env=env)  # type: ignore[arg-type]
    client = httpx.Client(base_url=server.base, timeout=30)
    page = client.get("/api/runs").json()
    assert sorted(r["hash"] for r in page["rows"]) == sorted(first + second)
    edit = client.patch(f"/api/runs/{first[0]}", json={"name": "x"},
                        headers={"Origin": server.base})
    assert edit.status_code == 403, edit.text
