"""Bucket names, prefixes, snapshot ids and listed keys, against the moto server on 127.0.0.1.

Only what no store accepts is refused locally (no name, a ``/``, more than 255 characters); the
store decides the rest and its refusal is one line. A bad prefix or snapshot id is one line
before anything is opened or created. Keys read back from a listing are parsed with storage's
``\\Z``-anchored definitions: a key ending in a newline is not a segment.
"""

from __future__ import annotations

import pytest

from aim import Repo
from aim.remote import keys
from tests.conftest import run_cli
from tests.remote.conftest import s3_client
from tests.remote.test_upload_download import make_repo, segments, tree_digest

HASH = "0123456789abcdef01234567"


def one_line_error(proc, *needles: str) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    err = proc.stderr
    assert "Traceback" not in err, err
    assert err.splitlines()[0].startswith("error: "), err
    for needle in needles:
        assert needle in err.splitlines()[0], (needle, err)
    return err


def test_the_seeds_example_bucket_name_is_left_to_the_store(tmp_path, s3_server, s3_env):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_repo(src, runs=2)
    env = {**s3_env, "AIM_S3_ENDPOINT_URL": s3_server}  # the command exactly as the seed writes it
    proc = run_cli("runs", "upload", "bucket_name_1", cwd=src, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "to s3://bucket_name_1" in proc.stdout
    # Aim's form, the repository on the group; then the way back.
    proc = run_cli("runs", "--repo", str(src), "upload", "bucket_name_1", env=env)
    assert proc.returncode == 0 and "uploaded 0 new segments" in proc.stdout, proc.stderr
    proc = run_cli("runs", "--repo", str(dst), "download", "bucket_name_1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert segments(dst) == segments(src)
    listed = s3_client(s3_server).list_objects_v2(Bucket="bucket_name_1", Prefix="runs/")
    assert len(listed["Contents"]) == len(segments(src))


@pytest.mark.parametrize("name,says,download_says", [
    # The store's refusals (moto, like AWS today, wants 3-63 characters). A download never
    # creates a bucket, so it only learns that there is none.
    ("ab", "refused the bucket name 'ab' (InvalidBucketName", "no bucket 'ab'"),
    ("b" * 64, "refused the bucket name", "no bucket"),
    # Local refusals: the same line from both.
    ("team/bucket", "invalid bucket name 'team/bucket': a bucket name has no '/'", None),
    ("c" * 256, "more than S3 ever allowed (255)", None),
    ("has space", "boto3 accepts only letters, digits", None),
])
def test_a_refused_bucket_name_is_one_line(tmp_path, s3_server, s3_env, name, says, download_says):
    src = tmp_path / "src"
    make_repo(src, runs=1)
    before = tree_digest(src)
    err = one_line_error(run_cli("runs", "upload", name, "--endpoint-url", s3_server, "--repo", str(src),
                                 env=s3_env), says)
    assert "testing" not in err  # no credential echoed
    assert tree_digest(src) == before
    # download refuses it the same way, and creates no repository for it.
    dst = tmp_path / "dst"
    one_line_error(run_cli("runs", "download", name, "--endpoint-url", s3_server, "--repo", str(dst),
                           env=s3_env), download_says or says)
    assert not dst.exists()


@pytest.mark.parametrize("args,says", [
    (["--prefix", "../x"], "bad prefix '../x'"),
    (["--prefix", "/abs"], "bad prefix '/abs'"),
    (["--prefix", "a//b"], "bad prefix 'a//b'"),
    (["--prefix", "team/./b"], "bad prefix"),
    (["--prefix", "a\x01b"], "bad prefix"),
    (["--snapshot", "latest"], "bad snapshot id 'latest'"),
    (["--snapshot", "20261126T104500123Z-1a2b3c\n"], "bad snapshot id"),
    (["--snapshot", "../20261126T104500123Z-1a2b3c"], "bad snapshot id"),
])
def test_bad_prefixes_and_snapshot_ids_are_one_line_before_anything_is_made(tmp_path, s3_server, s3_env,
                                                                              bucket, args, says):
    dst = tmp_path / "dst"
    one_line_error(run_cli("runs", "download", bucket, *args, "--endpoint-url", s3_server, "--repo", str(dst),
                           env=s3_env), says)
    assert not dst.exists()  # download creates its repository: not for a command it refuses
    if args[0] == "--prefix":
        src = tmp_path / "src"
        make_repo(src, runs=1)
        before = tree_digest(src)
        one_line_error(run_cli("runs", "upload", bucket, *args, "--endpoint-url", s3_server, "--repo", str(src),
                               env=s3_env), says)
        assert tree_digest(src) == before
        assert not s3_client(s3_server).list_buckets()["Buckets"] or bucket not in {
            b["Name"] for b in s3_client(s3_server).list_buckets()["Buckets"]}
        one_line_error(run_cli("runs", "download", bucket, "--list-snapshots", *args, "--endpoint-url",
                               s3_server, "--repo", str(dst), env=s3_env), says)


def test_the_errors_are_aim_errors_and_still_value_errors():
    from aim.errors import RemoteError

    for bad in (lambda: keys.normalize_prefix("../x"), lambda: keys.manifest_key("", "nope"),
                lambda: keys.validate_snapshot("20261126T104500123Z-1a2b3c\n")):
        with pytest.raises(RemoteError) as info:
            bad()
        assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


@pytest.mark.parametrize("key", [
    f"runs/{HASH}/events/00000000.jsonl.zst\n",
    f"runs/{HASH}\n/events/00000000.jsonl.zst",
    f"runs/{HASH}/events/00000000\n.jsonl.zst",
    f"runs/{HASH.upper()}/events/00000000.jsonl.zst",
    f"runs/{HASH}/events/0000000.jsonl.zst",
    f"runs/{HASH}/events/../00000000.jsonl.zst",
    f"runs/{HASH}/blobs/{'ab' * 32}\n",
    f"runs/{HASH}/blobs/{'AB' * 32}",
    f"runs/{HASH}/blobs/{'ab' * 31}",
    f"runs/{HASH}/blobs/{'ab' * 32}.gz",
    f"runs/{HASH}/blobs/../{'ab' * 32}",
    f"runs/{HASH}/events/{'ab' * 32}",
])
def test_a_listed_key_that_is_not_exactly_a_segment_or_a_blob_is_refused(key):
    assert keys.parse_run_file_key("", key) is None
    assert keys.parse_run_file_key("p/", "p/" + key) is None
    assert keys.parse_run_file_key("", f"runs/{HASH}/events/00000000.jsonl.zst") == (HASH, "00000000.jsonl.zst")
    blob = "cd" * 32 + ".zst"
    assert keys.parse_run_file_key("", f"runs/{HASH}/blobs/{blob}") == (HASH, f"blobs/{blob}")
    assert keys.run_file_key("p/", HASH, f"blobs/{blob}") == f"p/runs/{HASH}/blobs/{blob}"


def test_a_manifest_key_ending_in_a_newline_is_refused():
    snap = "20261126T104500123Z-1a2b3c"
    assert keys.parse_manifest_key("", f"manifests/{snap}.json") == snap
    assert keys.parse_manifest_key("", f"manifests/{snap}\n.json") is None


def test_download_ignores_names_ending_in_a_newline_in_a_manifest(tmp_path, s3_server, s3_env, bucket):
    """(moto cannot store a key with a newline, so the listing case is checked above, by the
    parser; a manifest is JSON anyone can write.)"""
    import hashlib
    import json

    src, dst = tmp_path / "src", tmp_path / "dst"
    (h,) = make_repo(src, runs=1)
    seg = next(iter(segments(src).values()))
    sha = hashlib.sha256(seg).hexdigest()
    snap = "20261126T104500123Z-1a2b3c"
    manifest = {"format": 1, "snapshot": snap, "runs": {
        h: [["00000000.jsonl.zst", len(seg), sha], ["00000001.jsonl.zst\n", len(seg), sha]],
        h + "\n": [["00000000.jsonl.zst", len(seg), sha]]}}
    client = s3_client(s3_server)
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key=f"runs/{h}/events/00000000.jsonl.zst", Body=seg,
                      Metadata={"sha256": sha})
    client.put_object(Bucket=bucket, Key=f"manifests/{snap}.json", Body=json.dumps(manifest).encode())
    proc = run_cli("runs", "download", bucket, "--snapshot", snap, "--endpoint-url", s3_server,
                   "--repo", str(dst), "--json", env=s3_env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["new_segments"] == 1
    assert sorted(p.name for p in (dst / ".aim" / "runs").iterdir()) == [h]
    assert sorted(p.name for p in (dst / ".aim" / "runs" / h / "events").iterdir()) == ["00000000.jsonl.zst"]
    assert [r["hash"] for r in Repo(dst).list_runs()] == [h]


def test_a_manifest_that_is_not_ours_is_one_line(tmp_path, s3_server, s3_env, bucket):
    snap = "20261126T104500123Z-1a2b3c"
    client = s3_client(s3_server)
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key=f"manifests/{snap}.json", Body=b'{"runs": {"x": [1, 2]}}')
    proc = run_cli("runs", "download", bucket, "--snapshot", snap, "--endpoint-url", s3_server,
                   "--repo", str(tmp_path / "dst"), env=s3_env)
    one_line_error(proc, "its manifest is not one this aim reads")
