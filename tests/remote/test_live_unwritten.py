"""Upload and download beside a run that is live but has not written its first frame yet."""

from __future__ import annotations

import subprocess
import sys

from aim import Repo
from tests.cli.test_live_unwritten import assert_closed_whole, assert_unwritten, finish, unwritten_run
from tests.conftest import run_cli
from tests.remote.conftest import s3_client
from tests.remote.test_upload_download import make_repo, segments

# What a Run does when it creates a run (aim.sdk.run_base): the directory appears with its lock
# held. Used to put a live writer on a chosen hash, which a Run never lets one choose.
HOLD = """
import sys, time
from aim.storage.layout import RepoLayout, resolve_aim_dir
from aim.storage.lock import create_locked
layout = RepoLayout(resolve_aim_dir(sys.argv[1]))
lock = create_locked(layout.run_dir(sys.argv[2]), layout.tmp / (sys.argv[2] + ".held"))
print("held", flush=True)
time.sleep(300)
"""


def test_upload_ships_the_others_and_it_once_written(repo_path, s3_server, s3_env, bucket):
    (other,) = make_repo(repo_path, runs=1)
    with unwritten_run(repo_path) as (child, h):
        proc = run_cli("runs", "upload", bucket, "--endpoint-url", s3_server, "--repo", str(repo_path),
                       env=s3_env)
        assert proc.returncode == 0, proc.stderr
        assert "uploaded 1 new segment" in proc.stdout and "of 1 run" in proc.stdout
        keys = {o["Key"] for o in s3_client(s3_server).list_objects_v2(Bucket=bucket)["Contents"]}
        assert any(other in k for k in keys) and not any(h in k for k in keys)
        assert_unwritten(repo_path, h)
        finish(child)
    assert_closed_whole(repo_path, h)
    proc = run_cli("runs", "upload", bucket, "--endpoint-url", s3_server, "--repo", str(repo_path), env=s3_env)
    assert proc.returncode == 0 and "uploaded 1 new segment" in proc.stdout, proc.stderr
    keys = {o["Key"] for o in s3_client(s3_server).list_objects_v2(Bucket=bucket)["Contents"]}
    assert f"runs/{h}/events/00000000.jsonl.zst" in keys


def test_download_places_nothing_under_a_live_writer_here(tmp_path, s3_server, s3_env, bucket):
    src, dst = tmp_path / "src", tmp_path / "dst"
    first, second = make_repo(src, runs=2)
    assert run_cli("runs", "upload", bucket, "--endpoint-url", s3_server, "--repo", str(src),
                   env=s3_env).returncode == 0
    assert run_cli("init", "--repo", str(dst)).returncode == 0
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(dst), second], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held", holder.stderr.read()  # type: ignore[union-attr]
        proc = run_cli("runs", "download", bucket, "--endpoint-url", s3_server, "--repo", str(dst), env=s3_env)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert proc.stderr.startswith("error: ")
        assert f"run {second} is open for writing here by process {holder.pid}" in proc.stderr
        assert_unwritten(dst, second)  # nothing placed under the writer
        assert (dst / ".aim" / "runs" / first / "events" / "00000000.jsonl.zst").is_file()
        assert [r["hash"] for r in Repo(dst).list_runs()] == [first]
    finally:
        holder.kill()
        holder.wait(timeout=10)
        holder.stdout.close()  # type: ignore[union-attr]
        holder.stderr.close()  # type: ignore[union-attr]
    # That writer is gone without writing: the next download completes the run.
    proc = run_cli("runs", "download", bucket, "--endpoint-url", s3_server, "--repo", str(dst), env=s3_env)
    assert proc.returncode == 0, proc.stderr
    assert segments(dst) == segments(src)
    assert sorted(r["hash"] for r in Repo(dst).list_runs()) == sorted([first, second])
