"""One contract, every object store: S3 (moto's server on 127.0.0.1) and a local directory
(``LocalStore``) behave the same for what upload and download use: put-if-absent that never
overwrites, conflicts reported, listing by prefix, SHA-256s recorded and checked."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from aim.errors import RemoteConflictError, RemoteError


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["s3", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    if request.param == "local":
        from aim.remote.local import LocalStore

        return LocalStore(tmp_path / "bucket")
    from aim.remote.s3 import S3Store
    from tests.remote.conftest import CREDS

    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    server = request.getfixturevalue("s3_server")
    return S3Store(f"contract-{hashlib.sha256(str(tmp_path).encode()).hexdigest()[:12]}", endpoint_url=server)


def test_put_if_absent_never_overwrites(store: Any) -> None:
    assert store.bucket_exists() is False
    assert store.ensure_bucket() is True and store.ensure_bucket() is False and store.bucket_exists()
    data = b"segment bytes" * 100
    assert store.put_immutable("runs/a/events/00000000.jsonl.zst", data, _sha(data)) is True
    assert store.put_immutable("runs/a/events/00000000.jsonl.zst", data, _sha(data)) is False
    other = b"different"
    with pytest.raises(RemoteConflictError, match="nothing was overwritten"):
        store.put_immutable("runs/a/events/00000000.jsonl.zst", other, _sha(other))
    assert store.get_bytes("runs/a/events/00000000.jsonl.zst") == (data, _sha(data))


def test_listing_heads_and_reads(store: Any) -> None:
    store.ensure_bucket()
    objects = {"p/runs/a/events/00000000.jsonl.zst": b"x" * 10, "p/runs/a/blobs/" + "ab" * 32: b"y" * 3,
               "p/manifests/m.json": b"{}", "q/runs/b/events/00000000.jsonl.zst": b"z"}
    for key, data in objects.items():
        store.put_immutable(key, data, _sha(data))
    assert sorted(store.list_objects("p/runs/")) == sorted(
        (k, len(v)) for k, v in objects.items() if k.startswith("p/runs/"))
    assert store.remote_sha256("p/manifests/m.json") == _sha(b"{}")
    assert store.remote_sha256("p/manifests/none.json") is None
    out = io.BytesIO()
    assert store.download_to("p/runs/a/blobs/" + "ab" * 32, out) == (_sha(b"y" * 3), _sha(b"y" * 3))
    assert out.getvalue() == b"y" * 3
    with pytest.raises(RemoteError):
        store.get_bytes("p/nothing")


def test_a_put_whose_bytes_do_not_match_their_sha256_is_refused(store: Any) -> None:
    store.ensure_bucket()
    with pytest.raises(RemoteError):
        store.put_immutable("k/v", b"these bytes", _sha(b"other bytes"))
    assert store.remote_sha256("k/v") is None


def test_racing_puts_of_different_bytes_have_exactly_one_winner(store: Any) -> None:
    store.ensure_bucket()
    results: list[Any] = []

    def put(i: int) -> None:
        data = f"writer {i}".encode() * 50
        try:
            results.append((i, store.put_immutable("race/key", data, _sha(data))))
        except RemoteConflictError:
            results.append((i, "conflict"))

    threads = [threading.Thread(target=put, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, r in results if r is True]
    assert len(winners) == 1 and sum(r == "conflict" for _, r in results) == 5
    assert store.get_bytes("race/key")[0] == f"writer {winners[0]}".encode() * 50


def test_upload_and_download_through_a_folder(tmp_path: Path) -> None:
    # A shared filesystem between machines, or a backup disk: the same commands, a file:// store.
    from tests.conftest import run_cli
    from tests.remote.test_upload_download import make_repo, segments

    src, dst, folder = tmp_path / "src", tmp_path / "dst", tmp_path / "shared"
    make_repo(src, runs=2)
    up = run_cli("runs", "upload", f"file://{folder}", "--prefix", "team", "--repo", str(src))
    assert up.returncode == 0 and "uploaded 2 new segments" in up.stdout, up.stderr
    assert sorted(p.name for p in (folder / "team" / "runs").glob("*/events/*")) == sorted(
        Path(k).name for k in segments(src))
    again = run_cli("runs", "upload", f"file://{folder}", "--prefix", "team", "--repo", str(src))
    assert "uploaded 0 new segments" in again.stdout and "2 already there" in again.stdout
    dry = run_cli("runs", "download", f"file://{folder}", "--prefix", "team", "--dry-run", "--repo", str(dst))
    assert dry.returncode == 0 and "would download 2 new segments" in dry.stdout, dry.stderr
    assert not dst.exists()  # a plan writes nothing, not even the repository
    down = run_cli("runs", "download", f"file://{folder}", "--prefix", "team", "--repo", str(dst))
    assert down.returncode == 0 and "downloaded 2 new segments" in down.stdout, down.stderr
    assert segments(dst) == segments(src)
    dry = run_cli("runs", "download", f"file://{folder}", "--prefix", "team", "--dry-run", "--json",
                  "--repo", str(dst))
    assert json.loads(dry.stdout)["new_segments"] == 0 and json.loads(dry.stdout)["already_here"] == 2
    bad = run_cli("runs", "upload", "file://host/relative", "--repo", str(src))
    assert bad.returncode == 1 and "file:///absolute/path" in bad.stderr
