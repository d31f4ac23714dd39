"""The bad-input catalogue (issue 8): each case gets one clear line (CLI) or a precise
exception (SDK) and loses nothing already written. Defects found here are pinned by tests named
after them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from aim import Repo, Run
from aim.errors import ParamTypeError
from tests.conftest import run_cli

QUIET = {"system_tracking_interval": None, "capture_terminal_logs": False}
BAD_HASHES = ["../../etc", "/etc/passwd", "A" * 24, "x" * 10_000]
HASH_COMMANDS = [
    ["runs", "show", "{h}"], ["runs", "logs", "{h}"], ["runs", "tail", "{h}"],
    ["runs", "export", "{h}"], ["runs", "rm", "{h}", "-y"], ["runs", "restore", "{h}"],
    ["runs", "close", "{h}"], ["runs", "cp", "{h}", "--destination", "{dest}"],
    ["runs", "mv", "{h}", "--destination", "{dest}"], ["runs", "upload", "bucket-x", "--run", "{h}"],
    ["runs", "download", "bucket-x", "--run", "{h}"],
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("catalogue")
    with Run(repo=root / "repo", **QUIET) as run:
        run.track(1.0, name="loss")
    (root / "dest").mkdir()
    Run(repo=root / "dest", **QUIET).close()
    return root


def _digest(path: Path) -> list[tuple[str, bytes]]:
    return [(str(p.relative_to(path)), p.read_bytes()) for p in sorted(path.rglob("*.zst"))]


@pytest.mark.parametrize("cmd", HASH_COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("bad", BAD_HASHES, ids=range(len(BAD_HASHES)))
def test_every_command_refuses_malformed_hashes_in_one_line(repo, cmd, bad):
    before = _digest(repo)
    args = [a.format(h=bad, dest=repo / "dest") for a in cmd]
    proc = run_cli(*args, "--repo", str(repo / "repo"))
    assert proc.returncode in (1, 2), proc.stdout
    assert "Traceback" not in proc.stderr
    first = proc.stderr.strip().splitlines()[0] if proc.stderr.strip() else ""
    # (rm, restore, close, cp and mv also take prefixes and globs: they say "invalid run hash
    # or pattern".)
    assert "invalid run hash" in proc.stderr or "Invalid value" in proc.stderr, first
    assert _digest(repo) == before


def test_deeply_nested_param_is_a_param_type_error_not_a_recursion_error(tmp_path):
    deep: dict = {}
    cur = deep
    for _ in range(5000):
        cur["a"] = {}
        cur = cur["a"]
    with Run(repo=tmp_path, **QUIET) as run:
        run["ok"] = 1
        with pytest.raises(ParamTypeError, match="nested deeper than 200 levels"):
            run["deep"] = deep
    back = Run(run.hash, repo=tmp_path, read_only=True)
    assert back["ok"] == 1 and back.get("deep") is None


def test_huge_strings_round_trip(tmp_path):
    name = "n" * 1_000_000
    with Run(repo=tmp_path, **QUIET) as run:
        run["big"] = "v" * 10_000_000
        run.track(2.5, name=name, context={"k": "c" * 100_000})
    back = Run(run.hash, repo=tmp_path, read_only=True)
    assert len(back["big"]) == 10_000_000
    assert back.get_metric(name, {"k": "c" * 100_000}).values == [2.5]


def test_non_utf8_terminal_output_is_recorded_with_replacement_characters(tmp_path):
    code = ("import os, sys; from aim import Run; r = Run(repo=sys.argv[1], system_tracking_interval=None); "
            "os.write(1, b'bad \\xff\\xfe bytes\\n'); r.close(); print(r.hash)")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert b"bad \xff\xfe bytes\n" in proc.stdout  # the terminal got the raw bytes
    h = proc.stdout.split()[-1].decode()
    logs = run_cli("runs", "logs", h, "--repo", str(tmp_path))
    assert logs.stdout.splitlines() == ["bad \ufffd\ufffd bytes"]


def test_prune_of_a_run_symlinked_from_outside_removes_the_link_not_the_target(tmp_path):
    other, repo, outside = tmp_path / "other", tmp_path / "repo", tmp_path / "outside"
    with Run(repo=other, **QUIET) as run:
        run.track(1.0, name="x")
    Run(repo=repo, **QUIET).close()
    outside.mkdir()
    shutil.move(str(other / ".aim" / "runs" / run.hash), str(outside / run.hash))
    (outside / "precious.txt").write_text("keep me")
    os.symlink(outside / run.hash, repo / ".aim" / "runs" / run.hash)
    assert run_cli("runs", "rm", run.hash, "-y", "--repo", str(repo)).returncode == 0
    assert run_cli("storage", "prune", "--repo", str(repo)).returncode == 0
    assert not (repo / ".aim" / "runs" / run.hash).exists()
    assert (outside / "precious.txt").read_text() == "keep me"
    assert sorted(os.listdir(outside / run.hash / "events")) == ["00000000.jsonl.zst", "00000001.jsonl.zst"]


@pytest.fixture
def read_only_repo(tmp_path):
    mnt = tmp_path / f"ro-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        with Run(repo=mnt, **QUIET) as run:
            run.track(1.0, name="x")
        run.repo.close()  # its index connection holds files open for writing
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        yield mnt, run.hash
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_read_only_repo_lists_instead_of_failing(read_only_repo):
    mnt, h = read_only_repo
    before = _digest(mnt)
    ls = run_cli("runs", "ls", "--repo", str(mnt))
    assert ls.returncode == 0 and h in ls.stdout, ls.stderr
    assert [r["hash"] for r in Repo(mnt).list_runs()] == [h]
    assert Run(h, repo=mnt, read_only=True).get_metric("x").values == [1.0]
    rm = run_cli("runs", "rm", h, "-y", "--repo", str(mnt))
    assert rm.returncode == 1 and "Read-only file system" in rm.stderr and "Traceback" not in rm.stderr
    with pytest.raises(OSError, match="Read-only file system"):
        Run(repo=mnt, **QUIET)
    assert _digest(mnt) == before
