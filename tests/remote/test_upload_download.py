"""Upload to and download from a real S3 API on 127.0.0.1 (moto server), through the real CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aim import Repo, Run
from aim.errors import RemoteConflictError
from tests.conftest import CHILDREN, run_cli
from tests.remote.conftest import s3_client


def make_repo(path: Path, runs: int = 3, points: int = 50) -> list[str]:
    hashes = []
    for k in range(runs):
        with Run(repo=path, experiment=f"exp{k % 2}", system_tracking_interval=None,
                 capture_terminal_logs=False) as run:
            run["hparams"] = {"lr": 0.1 * (k + 1)}
            for i in range(points):
                run.track(i * 0.5 + k, name="loss", context={"subset": "train"})
        hashes.append(run.hash)
    return hashes


def segments(path: Path) -> dict[str, bytes]:
    root = path / ".aim" / "runs"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("*/events/*.zst"))}


def tree_digest(path: Path) -> str:
    """A digest of every file under .aim/runs (names and bytes): 'untouched' means equal."""
    h = hashlib.sha256()
    for p in sorted((path / ".aim" / "runs").rglob("*")):
        h.update(str(p.relative_to(path)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def ls_json(path: Path) -> list[dict]:
    proc = run_cli("runs", "ls", "--json", "--repo", str(path))
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env)


def test_upload_then_download_gives_the_same_runs_and_identical_segments(tmp_path, s3_server, s3_env, bucket):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_repo(src)
    up = cli("runs", "upload", bucket, "--prefix", "team/proj", "--endpoint-url", s3_server,
             "--repo", str(src), env=s3_env)
    assert up.returncode == 0, up.stderr
    assert "uploaded 3 new segments" in up.stdout and "snapshot" in up.stdout
    down = cli("runs", "download", bucket, "--prefix", "team/proj", "--endpoint-url", s3_server,
               "--repo", str(dst), env=s3_env)
    assert down.returncode == 0, down.stderr
    assert "downloaded 3 new segments" in down.stdout
    assert ls_json(dst) == ls_json(src)
    assert segments(dst) == segments(src)
    # Downloading again fetches nothing and changes nothing.
    again = cli("runs", "download", bucket, "--prefix", "team/proj", "--endpoint-url", s3_server,
                "--repo", str(dst), env=s3_env)
    assert again.returncode == 0 and "downloaded 0 new segments" in again.stdout
    assert "3 already here" in again.stdout


def test_a_second_upload_of_an_unchanged_repo_sends_no_put(tmp_path, proxy, s3_env, bucket):
    src = tmp_path / "src"
    make_repo(src)
    first = cli("runs", "upload", bucket, "--endpoint-url", proxy.url, "--repo", str(src), env=s3_env)
    assert first.returncode == 0, first.stderr
    assert proxy.counts["PUT"] >= 4  # the bucket, three segments, the manifest
    proxy.counts.clear()
    second = cli("runs", "upload", bucket, "--endpoint-url", proxy.url, "--json", "--repo", str(src),
                 env=s3_env)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["new_segments"] == 0 and report["already_there"] == 3 and report["snapshot"] is None
    assert proxy.counts["PUT"] == 0 and proxy.counts["POST"] == 0
    assert proxy.counts["HEAD"] == 1  # the bucket: what is already there is known locally
    text = cli("runs", "upload", bucket, "--endpoint-url", proxy.url, "--repo", str(src), env=s3_env)
    assert "uploaded 0 new segments" in text.stdout
    # Without the local cache (index rebuilt), the objects' metadata is compared instead: still no PUT.
    Repo(src).reindex()
    for p in (src / ".aim" / "index").glob("uploaded-*.json"):
        p.unlink()
    proxy.counts.clear()
    third = cli("runs", "upload", bucket, "--endpoint-url", proxy.url, "--json", "--repo", str(src), env=s3_env)
    assert json.loads(third.stdout)["already_there"] == 3 and proxy.counts["PUT"] == 0


def test_faults_mid_upload_are_retried_or_fail_clearly_and_the_next_call_completes(
        tmp_path, proxy, s3_env, bucket):
    src = tmp_path / "src"
    make_repo(src, runs=6)
    # Drop connections and answer 500 on some of the writes (the bucket creation is write #1).
    proxy.faults = {2: "drop", 3: "500", 4: "500", 6: "drop", 7: "drop", 8: "500", 9: "drop", 10: "500"}
    env = {**s3_env, "AIM_S3_MAX_ATTEMPTS": "3"}
    first = cli("runs", "upload", bucket, "--endpoint-url", proxy.url, "--repo", str(src), env=env)
    assert proxy.injected, "no fault was injected"
    if first.returncode != 0:
        assert first.stderr.startswith("error: ") and "Traceback" not in first.stderr
    second = cli("runs", "upload", bucket, "--endpoint-url", proxy.url, "--json", "--repo", str(src), env=env)
    assert second.returncode == 0, second.stderr
    # Every object in the bucket is whole and equal to the local bytes.
    client = s3_client(proxy.url.replace(proxy.url, f"http://{proxy.target}"))
    local = segments(src)
    listed = client.list_objects_v2(Bucket=bucket, Prefix="runs/")["Contents"]
    assert len(listed) == len(local) == 6
    for obj in listed:
        body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        assert body == local[obj["Key"].removeprefix("runs/")]


def test_a_conflicting_object_fails_the_upload_and_is_left_untouched(tmp_path, s3_server, s3_env, bucket):
    src = tmp_path / "src"
    hashes = make_repo(src, runs=2)
    client = s3_client(s3_server)
    client.create_bucket(Bucket=bucket)
    key = f"runs/{hashes[0]}/events/00000000.jsonl.zst"
    client.put_object(Bucket=bucket, Key=key, Body=b"someone else's bytes")
    proc = cli("runs", "upload", bucket, "--endpoint-url", s3_server, "--repo", str(src), env=s3_env)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: 1 segment(s) conflict") and key in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"someone else's bytes"
    # The other run was still shipped.
    other = client.get_object(Bucket=bucket, Key=f"runs/{hashes[1]}/events/00000000.jsonl.zst")
    assert other["Body"].read() == segments(src)[f"{hashes[1]}/events/00000000.jsonl.zst"]


def test_same_size_conflict_is_found_by_checksum(tmp_path, s3_server, s3_env, bucket):
    src = tmp_path / "src"
    (h,) = make_repo(src, runs=1)
    data = segments(src)[f"{h}/events/00000000.jsonl.zst"]
    client = s3_client(s3_server)
    client.create_bucket(Bucket=bucket)
    forged = bytes([data[0] ^ 1]) + data[1:]
    client.put_object(Bucket=bucket, Key=f"runs/{h}/events/00000000.jsonl.zst", Body=forged)
    with pytest.raises(RemoteConflictError):
        Repo(src).upload(bucket, endpoint_url=s3_server)


def test_an_upload_while_a_run_tracks_ships_sealed_segments_and_restores_a_prefix(
        tmp_path, s3_server, s3_env, bucket):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    child = subprocess.Popen(
        [sys.executable, str(CHILDREN / "crash_child.py"), str(src), "--state-dir", str(tmp_path / "state"),
         "--segment-max-bytes", "4096", "--flush-interval", "0.05"],
        stdout=subprocess.PIPE, text=True, env=s3_env)
    try:
        assert child.stdout.readline().strip() == "OPENING"
        run_hash = child.stdout.readline().strip()
        deadline = time.monotonic() + 30
        while len(list((src / ".aim" / "runs" / run_hash / "events").glob("*.zst"))) < 4:
            assert time.monotonic() < deadline, "the child did not rotate segments"
            time.sleep(0.05)
        report = Repo(src).upload(bucket, endpoint_url=s3_server)
        assert report.new_segments >= 3 and report.unsealed == 1
    finally:
        child.kill()
        child.wait()
    Repo(dst, init=True).download(bucket, endpoint_url=s3_server)
    restored = Run(run_hash, repo=dst, read_only=True).get_metric("loss", {"subset": "train"})
    live = Run(run_hash, repo=src, read_only=True).get_metric("loss", {"subset": "train"})
    assert 0 < len(restored.steps) <= len(live.steps)
    assert restored.steps == live.steps[:len(restored.steps)]
    assert restored.values == live.values[:len(restored.values)]


def test_tombstones_travel_and_snapshots_restore_a_point_in_time(tmp_path, s3_server, s3_env, bucket):
    src = tmp_path / "src"
    first, second = make_repo(src, runs=2)
    Repo(src).delete_run(second)
    r1 = Repo(src).upload(bucket, endpoint_url=s3_server)
    (third,) = make_repo(src, runs=1)
    r2 = Repo(src).upload(bucket, endpoint_url=s3_server)
    assert r1.snapshot and r2.snapshot and r2.new_segments == 1
    listing = cli("runs", "download", bucket, "--list-snapshots", "--endpoint-url", s3_server,
                  "--repo", str(tmp_path / "x"), env=s3_env)
    assert listing.stdout.split() == [r1.snapshot, r2.snapshot]
    old = tmp_path / "old"
    rep = Repo(old, init=True).download(bucket, endpoint_url=s3_server, snapshot=r1.snapshot)
    assert rep.new_segments == 3  # two runs, and the tombstone segment
    assert [r["hash"] for r in Repo(old).list_runs()] == [first]
    assert [r["hash"] for r in Repo(old).list_runs(only_deleted=True)] == [second]
    full = tmp_path / "full"
    Repo(full, init=True).download(bucket, endpoint_url=s3_server, runs=[third])
    assert [r["hash"] for r in Repo(full).list_runs()] == [third]


def test_bad_input_gets_one_clear_line_and_leaves_the_repo_untouched(tmp_path, s3_server, s3_env, bucket):
    src = tmp_path / "src"
    make_repo(src, runs=1)
    before = tree_digest(src)

    def fails(*args: str, env: dict[str, str], says: str) -> None:
        # The exact environment given (not merged with this process's, which has credentials).
        proc = subprocess.run([sys.executable, "-m", "aim", "runs", "upload", *args, "--repo", str(src)],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 1, proc.stdout
        first = proc.stderr.splitlines()[0]
        assert first.startswith("error: ") and says in first, proc.stderr
        assert "Traceback" not in proc.stderr and "testing" not in proc.stderr  # no secret echoed

    # Only what no store accepts is refused here; the rest is the store's to refuse (moto, like
    # AWS today, refuses names shorter than 3 characters; it accepts bucket_name_1).
    fails("team/bucket", "--endpoint-url", s3_server, env=s3_env, says="invalid bucket name")
    fails("ab", "--endpoint-url", s3_server, env=s3_env, says="refused the bucket name 'ab'")
    fails(bucket, "--endpoint-url", "http://127.0.0.1:9", env={**s3_env, "AIM_S3_MAX_ATTEMPTS": "2"},
          says="unreachable")
    no_creds = {k: v for k, v in s3_env.items() if not k.startswith(("AWS_ACCESS", "AWS_SECRET"))}
    no_creds.update({"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                     "AWS_EC2_METADATA_DISABLED": "true"})
    no_creds.pop("AWS_PROFILE", None)
    fails(bucket, "--endpoint-url", s3_server, env=no_creds, says="no AWS credentials")
    shadow = tmp_path / "no-boto3"
    (shadow / "boto3").mkdir(parents=True)
    (shadow / "boto3" / "__init__.py").write_text("raise ImportError('boto3 hidden for a test')\n")
    fails(bucket, "--endpoint-url", s3_server, env={**s3_env, "PYTHONPATH": os.pathsep.join(
        [str(shadow), str(Path(__file__).resolve().parents[2])])}, says="boto3")
    assert tree_digest(src) == before


def test_large_segments_go_multipart_and_stay_immutable(s3_server, s3_env, bucket):
    from aim.remote.s3 import MULTIPART_THRESHOLD, S3Store, sha256_hex

    store = S3Store(bucket, endpoint_url=s3_server)
    store.ensure_bucket()
    data = os.urandom(MULTIPART_THRESHOLD + 1234)
    key = "runs/" + "a" * 24 + "/events/00000000.jsonl.zst"
    assert store.put_immutable(key, data, sha256_hex(data)) is True
    assert store.put_immutable(key, data, sha256_hex(data)) is False  # same bytes: done already
    other = os.urandom(len(data))
    with pytest.raises(RemoteConflictError):
        store.put_immutable(key, other, sha256_hex(other))
    body, recorded = store.get_bytes(key)
    assert body == data and recorded == sha256_hex(data)


def test_follow_keeps_shipping_newly_sealed_segments(tmp_path, s3_server, s3_env, bucket):
    from aim.remote.s3 import S3Store
    from aim.sdk.backup import follow_upload

    src = tmp_path / "src"
    make_repo(src, runs=1)
    reports = []

    def on_round(report):
        reports.append(report)
        if len(reports) == 1:
            make_repo(src, runs=2)  # sealed between two rounds

    follow_upload(Repo(src), S3Store(bucket, endpoint_url=s3_server), interval=0.1,
                  on_round=on_round, rounds=3)
    assert [r.new_segments for r in reports] == [1, 2, 0]


def test_dry_run_sends_nothing_and_says_what_it_would_ship(tmp_path, proxy, s3_env, bucket):
    src = tmp_path / "src"
    make_repo(src, runs=2)
    proc = cli("runs", "upload", bucket, "--dry-run", "--endpoint-url", proxy.url, "--repo", str(src),
               env=s3_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("would upload 2 new segments")
    assert proxy.counts["PUT"] == 0 and proxy.counts["POST"] == 0
    buckets = s3_client(f"http://{proxy.target}").list_buckets()["Buckets"]
    assert bucket not in {b["Name"] for b in buckets}  # not even created


def test_async_repo_uploads_and_downloads(tmp_path, s3_server, s3_env, bucket):
    import anyio

    from aim import AsyncRepo

    src, dst = tmp_path / "src", tmp_path / "dst"
    make_repo(src, runs=2)

    async def main() -> tuple[int, int]:
        up = await (await AsyncRepo.from_path(src)).upload(bucket, endpoint_url=s3_server)
        down = await (await AsyncRepo.from_path(dst, init=True)).download(bucket, endpoint_url=s3_server)
        return up.new_segments, down.new_segments

    assert anyio.run(main) == (2, 2)
    assert segments(dst) == segments(src)


def test_blobs_travel_with_their_runs_and_come_back_identical(tmp_path, s3_server, s3_env, bucket):
    import numpy as np

    from aim.sdk.objects import Image, Text
    from aim.storage.layout import RepoLayout

    src, dst = tmp_path / "src", tmp_path / "dst"
    with Run(repo=src, system_tracking_interval=None, capture_terminal_logs=False) as run:
        for step in range(3):
            run.track(Image(np.full((4, 4, 3), step * 40, dtype=np.uint8)), name="img", step=step)
            run.track(Text(f"t{step}"), name="txt", step=step)
    blobs = {p.name: p.read_bytes() for p in RepoLayout(src / ".aim").blob_paths(run.hash)}
    assert len(blobs) == 6
    up = cli("runs", "upload", bucket, "--endpoint-url", s3_server, "--repo", str(src), env=s3_env)
    assert up.returncode == 0 and "uploaded 1 new segment and 6 blobs" in up.stdout, up.stdout + up.stderr
    keys = {o["Key"] for o in s3_client(s3_server).list_objects_v2(Bucket=bucket)["Contents"]}
    assert {f"runs/{run.hash}/blobs/{name}" for name in blobs} <= keys
    again = cli("runs", "upload", bucket, "--endpoint-url", s3_server, "--repo", str(src), env=s3_env)
    assert "uploaded 0 new segments" in again.stdout and "7 already there" in again.stdout
    down = cli("runs", "download", bucket, "--endpoint-url", s3_server, "--repo", str(dst), env=s3_env)
    assert down.returncode == 0, down.stderr
    assert "downloaded 1 new segment and 6 blobs" in down.stdout
    got = {p.name: p.read_bytes() for p in RepoLayout(dst / ".aim").blob_paths(run.hash)}
    assert got == blobs
    assert Repo(dst).verify() == []
    back = Run(run.hash, repo=dst, read_only=True)
    assert [t.data for t in back.get_text_sequence("txt").values] == ["t0", "t1", "t2"]
    pixels = [int(np.asarray(i.to_pil_image())[0, 0, 0]) for i in back.get_image_sequence("img").values]
    assert pixels == [0, 40, 80]
