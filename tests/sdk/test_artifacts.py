"""Artifacts by Aim's names: ``set_artifacts_uri``, ``log_artifact``, ``log_artifacts``,
``artifacts``, to a folder (``file://``) and to a real S3 API on loopback (moto's server);
each recorded with its name, URI, size and SHA-256; bad URIs and names refused at the call."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from aim import Run
from aim.sdk.artifacts import ArtifactError

QUIET = {"system_tracking_interval": None, "capture_terminal_logs": False}


def test_file_artifacts_are_copied_recorded_and_read_back(tmp_path: Path) -> None:
    store = tmp_path / "store"
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"weights" * 1000)
    conf = tmp_path / "configs"
    (conf / "sub").mkdir(parents=True)
    (conf / "a.yaml").write_text("lr: 0.1\n")
    (conf / "sub" / "b.yaml").write_text("bs: 32\n")
    with Run(repo=tmp_path / "repo", **QUIET) as run:
        with pytest.raises(ArtifactError, match="set_artifacts_uri"):
            run.log_artifact(str(ckpt))
        run.set_artifacts_uri(f"file://{store}")
        logged = run.log_artifact(str(ckpt), name="checkpoints/best.ckpt")
        run.log_artifacts(str(conf))
    assert logged.uri == f"file://{store}/{run.hash}/checkpoints/best.ckpt"
    assert (store / run.hash / "checkpoints" / "best.ckpt").read_bytes() == ckpt.read_bytes()
    back = Run(run.hash, repo=tmp_path / "repo", read_only=True)
    assert back.artifacts_uri == f"file://{store}/{run.hash}"
    arts = back.artifacts
    assert sorted(arts) == ["checkpoints/best.ckpt", "configs/a.yaml", "configs/sub/b.yaml"]
    best = arts["checkpoints/best.ckpt"]
    assert (best.size, best.sha256) == (7000, hashlib.sha256(ckpt.read_bytes()).hexdigest())
    got = best.download(tmp_path / "dl")
    assert Path(got).read_bytes() == ckpt.read_bytes()
    (store / run.hash / "configs" / "a.yaml").write_text("tampered")
    with pytest.raises(ArtifactError, match="not the ones logged"):
        arts["configs/a.yaml"].download(tmp_path / "dl2")


def test_bad_uris_and_names_are_refused_with_nothing_recorded(tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_text("x")
    with Run(repo=tmp_path / "repo", **QUIET) as run:
        for uri, words in [("/no/scheme", "scheme"), ("ftp://h/x", "not supported"), ("s3://", "no bucket"),
                           ("file://relative/x", "absolute")]:
            with pytest.raises(ArtifactError, match=words):
                run.set_artifacts_uri(uri)
        run.set_artifacts_uri(f"file://{tmp_path / 'store'}")
        for name in ("../escape", "/abs", "a/../../b", ""):
            with pytest.raises(ArtifactError):
                run.log_artifact(str(src), name=name)
        with pytest.raises(ArtifactError, match="not a file"):
            run.log_artifact(str(tmp_path / "missing"))
        with pytest.raises(ArtifactError, match="not a directory"):
            run.log_artifacts(str(src))
    assert Run(run.hash, repo=tmp_path / "repo", read_only=True).artifacts == {}
    assert not (tmp_path / "escape").exists()


def test_s3_artifacts(tmp_path: Path, s3_server: str, monkeypatch: Any) -> None:
    from tests.remote.conftest import CREDS, s3_client

    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    src = tmp_path / "ckpt.bin"
    src.write_bytes(bytes(range(256)) * 100)
    with Run(repo=tmp_path / "repo", **QUIET) as run:
        run.set_artifacts_uri("s3://aim-artifacts/team")
        art = run.log_artifact(str(src))
    assert art.uri == f"s3://aim-artifacts/team/{run.hash}/ckpt.bin"
    got = s3_client(s3_server).get_object(Bucket="aim-artifacts", Key=f"team/{run.hash}/ckpt.bin")
    body = got["Body"].read()
    assert body == src.read_bytes()
    back = Run(run.hash, repo=tmp_path / "repo", read_only=True).artifacts["ckpt.bin"]
    assert Path(back.download(tmp_path / "dl")).read_bytes() == src.read_bytes()
