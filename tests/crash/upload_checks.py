"""``aim runs upload`` SIGKILLed at a chosen moment beside a live writer, and the checks after it:
shared by ``test_upload_crash.py`` and ``tools/crashtest.py``.

Promise (docs/remote.md): every object is written whole with ``If-None-Match: *`` and our SHA-256,
the manifest (the snapshot) is written last, and the local repository is only read (a crashed
run's torn tail is repaired under its lock, never a live writer's). So after a kill anywhere:

* every object under ``runs/`` in the bucket equals the local segment of that name, byte for byte;
* every manifest lists only objects that are there, with their SHA-256;
* ``aim storage verify`` of the source reports nothing but the writer's own torn tail;
* the next upload ships exactly the segments that are missing (none twice) and afterwards the
  bucket holds every local segment, byte for byte.

Needs boto3 and an S3-compatible server on loopback (``start_s3_server``: moto's server mode).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tests.crash.checks import (
    TrialConfig,
    check_killed,
    child_stderr,
    expect,
    kill,
    start_child,
    torn_tail_of,
    verify_clean,
)

CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
         "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
         "AIM_S3_MAX_ATTEMPTS": "6"}


@contextlib.contextmanager
def start_s3_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (a free port), for as long as the block runs; yields its URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server's request log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(s3={"addressing_style": "path"}))


def local_segments(root: Path) -> dict[str, bytes]:
    """Every segment of the repository at ``root``, keyed as in the bucket (``runs/...``)."""
    runs = root / ".aim" / "runs"
    return {f"runs/{p.relative_to(runs)}": p.read_bytes() for p in sorted(runs.glob("*/events/*.zst"))}


def bucket_objects(client: Any, bucket: str) -> dict[str, bytes]:
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    except client.exceptions.NoSuchBucket:
        return {}
    return {k: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def _bucket_exists(client: Any, bucket: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.head_bucket(Bucket=bucket)
    except ClientError:
        return False
    return True


def _upload_cmd(root: Path, bucket: str, endpoint: str) -> list[str]:
    return [sys.executable, "-m", "aim", "runs", "upload", bucket, "--endpoint-url", endpoint,
            "--repo", str(root), "--json"]


@dataclass
class UploadTrial:
    src: Path
    how: str
    shipped: int  # segment objects in the bucket after the kill
    manifests: int  # manifests in the bucket after the kill
    finished: bool  # the killed upload had exited by itself
    seconds: float | None  # from the bucket's creation to the exit, when it got there
    notes: list[str] = field(default_factory=list)


def run_upload_trial(template_src: Path, work: Path, endpoint: str, bucket: str, when: float | None,
                     writer_seed: int) -> UploadTrial:
    """Copy the repository at ``template_src``, start a writer in it and an upload (two requests
    in flight, so it lasts); SIGKILL the upload ``when`` seconds after it started (``None``: let it
    finish), kill the writer, then check everything (see the module doc)."""
    work.mkdir(parents=True)
    src, state = work / "src", work / "state"
    shutil.copytree(template_src, src)
    writer, writer_hash = start_child(src, state, TrialConfig(seed=writer_seed), 0)
    env = {**os.environ, **CREDS, "AIM_S3_CONCURRENCY": "2"}
    with contextlib.ExitStack() as stack:
        kill_ts: list[float] = []
        stack.callback(lambda: kill_ts.append(kill(writer)))
        client = s3_client(endpoint)
        with open(work / "upload.stderr", "wb") as err:
            proc = subprocess.Popen(_upload_cmd(src, bucket, endpoint), env=env, stdout=subprocess.DEVNULL,
                                    stderr=err)
        try:
            # The clock starts when the bucket exists (the upload's first request): the
            # interpreter's start before it is not what the kills are for.
            while not _bucket_exists(client, bucket) and proc.poll() is None:
                time.sleep(0.002)
            t0 = time.monotonic()
            if when is None:
                proc.wait(120)
                how = "none (ran to the end)"
            else:
                try:
                    proc.wait(when)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)  # not reaped yet: the pid cannot be reused
                proc.wait()
                how = f"{1000 * when:.0f} ms after its bucket appeared"
            seconds = time.monotonic() - t0 if proc.returncode == 0 else None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stderr = (work / "upload.stderr").read_text(errors="replace")[-2000:]
    expect(proc.returncode in (0, -signal.SIGKILL), f"the upload exited with {proc.returncode}: {stderr}")
    expect(writer.returncode == -signal.SIGKILL, f"the writer exited early: {child_stderr(state, 0)}")
    check_killed(src, state, writer_hash, kill_ts[0], 0)  # it lost nothing it flushed

    local = local_segments(src)
    there = bucket_objects(client, bucket)
    shipped = {k: v for k, v in there.items() if k.startswith("runs/")}
    manifests = {k: v for k, v in there.items() if k.startswith("manifests/")}
    for key, body in shipped.items():
        expect(key in local, f"the bucket holds {key}, which is no local segment")
        expect(body == local[key],
               f"{key} in the bucket differs from the local segment ({len(body)} vs {len(local[key])} bytes)")
    for key, body in manifests.items():
        for h, segs in orjson.loads(body)["runs"].items():
            for name, size, sha in segs:
                obj = there.get(f"runs/{h}/events/{name}")
                expect(obj is not None and len(obj) == size and hashlib.sha256(obj).hexdigest() == sha,
                       f"manifest {key} lists runs/{h}/events/{name}, which is not there as listed")
    t = UploadTrial(src, how, len(shipped), len(manifests), proc.returncode == 0, seconds)
    t.notes.append(f"{len(shipped)}/{len(local)} segments shipped, {len(manifests)} manifest(s)")

    problems = verify_clean(src, torn_tail_of(writer_hash), f"after the upload was killed ({how})")
    t.notes += sorted({f"verify: {p['kind']}" for p in problems})
    local = local_segments(src)  # the repair may have cut the writer's torn tail
    final = subprocess.run(_upload_cmd(src, bucket, endpoint), env={**os.environ, **CREDS},
                           capture_output=True, text=True, timeout=120)
    expect(final.returncode == 0, f"the upload after the kill failed: {final.stderr[-2000:]}")
    report = orjson.loads(final.stdout)
    missing = set(local) - set(shipped)
    expect(report["new_segments"] == len(missing),
           f"the next upload shipped {report['new_segments']} segments; {len(missing)} were missing")
    after = {k: v for k, v in bucket_objects(client, bucket).items() if k.startswith("runs/")}
    expect(after == local, "after the next upload the bucket does not hold exactly the local segments: "
           f"missing {sorted(set(local) - set(after))[:5]}, extra {sorted(set(after) - set(local))[:5]}, "
           f"different {[k for k in after if k in local and after[k] != local[k]][:5]}")
    return t


def report(t: UploadTrial) -> str:
    """One line: where the kill landed and what it left."""
    return f"[upload] kill {t.how}; exited by itself={t.finished}; found: {', '.join(t.notes)}"
