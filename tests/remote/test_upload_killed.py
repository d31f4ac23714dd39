"""An upload SIGKILLed at random moments: no object in the bucket is partial or differs from
the local bytes, every manifest lists only objects that are there (it is written last), and
the next upload completes without sending again what is already there."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import sys
import time

from tests.remote.conftest import s3_client
from tests.remote.test_upload_download import make_repo, segments


def test_killed_uploads_leave_only_whole_objects_and_the_next_one_completes(tmp_path, proxy, s3_env, bucket):
    src = tmp_path / "src"
    make_repo(src, runs=60, points=20)
    local = segments(src)
    proxy.delay = 0.1  # every request takes a while, two at a time: the kills land mid-upload
    rng = random.Random(5)
    cmd = [sys.executable, "-m", "aim", "runs", "upload", bucket, "--endpoint-url", proxy.url,
           "--repo", str(src)]
    env = {**s3_env, "AIM_S3_CONCURRENCY": "2"}
    for _ in range(2):
        seen = proxy.counts["PUT"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while proxy.counts["PUT"] < seen + 3 and time.monotonic() < deadline:  # mid-upload, for sure
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proxy.wait_idle()  # requests the killed client had sent still reach the server
    client = s3_client(f"http://{proxy.target}")

    def bucket_state():
        objs = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in objs}

    before = bucket_state()
    shipped = {k: v for k, v in before.items() if k.startswith("runs/")}
    assert 0 < len(shipped) < len(local), "the kills should land mid-upload"
    for key, body in shipped.items():
        assert body == local[key.removeprefix("runs/")]
    for key, body in before.items():
        if key.startswith("manifests/"):
            for h, segs in json.loads(body)["runs"].items():
                for name, _size, sha in segs:
                    there = before.get(f"runs/{h}/events/{name}")
                    assert there is not None and hashlib.sha256(there).hexdigest() == sha
    proxy.delay = 0.0
    proxy.counts.clear()
    final = subprocess.run([*cmd, "--json"], env=s3_env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    report = json.loads(final.stdout)
    assert report["new_segments"] == len(local) - len(shipped)
    assert proxy.counts["PUT"] == len(local) - len(shipped) + 1  # the missing ones and a manifest
    after = bucket_state()
    assert {k.removeprefix("runs/"): v for k, v in after.items() if k.startswith("runs/")} == local
