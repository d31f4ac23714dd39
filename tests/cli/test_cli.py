"""The real `aim` entry point, in subprocesses."""

from __future__ import annotations

import json
import sys

import pytest

from aim import Run
from tests.conftest import run_cli

COMMANDS = [[], ["init"], ["version"], ["runs"], ["runs", "ls"], ["runs", "show"], ["storage"],
            ["storage", "reindex"]]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "aim")
def test_help_for_every_command(cmd):
    proc = run_cli(*cmd, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "Usage: aim" in proc.stdout


def test_init_version_ls_show(tmp_path):
    proc = run_cli("init", "--repo", str(tmp_path))
    assert proc.returncode == 0 and "Initialized" in proc.stdout
    assert run_cli("init", "--repo", str(tmp_path)).stdout.startswith("Already initialized")
    assert run_cli("version").stdout.startswith("aim ")
    with Run(repo=tmp_path, experiment="cifar", system_tracking_interval=None) as run:
        run.name = "resnet"
        run["hparams"] = {"lr": 0.1}
        run.add_tag("baseline")
        for i in range(3):
            run.track(1.0 / (i + 1), name="loss", context={"subset": "train"})
    other = Run(repo=tmp_path, experiment="mnist")
    other.close()
    ls = run_cli("runs", "ls", "--repo", str(tmp_path))
    assert ls.returncode == 0, ls.stderr
    lines = ls.stdout.splitlines()
    assert lines[0].split() == ["HASH", "EXPERIMENT", "NAME", "CREATED", "STATUS"]
    assert any(run.hash in ln and "cifar" in ln and "resnet" in ln and "finished" in ln for ln in lines)
    only = run_cli("runs", "ls", "--repo", str(tmp_path), "--experiment", "mnist", "--json")
    rows = [json.loads(x) for x in only.stdout.splitlines()]
    assert [r["hash"] for r in rows] == [other.hash] and rows[0]["status"] == "finished"
    show = run_cli("runs", "show", run.hash, "--repo", str(tmp_path), "--json")
    info = json.loads(show.stdout)
    assert info["params"] == {"hparams": {"lr": 0.1}} and info["tags"] == ["baseline"]
    assert info["sequences"] == [{"name": "loss", "context": {"subset": "train"}, "points": 3,
                                  "last_step": 2, "last_value": 1 / 3}]
    text = run_cli("runs", "show", run.hash, "--repo", str(tmp_path))
    assert "resnet" in text.stdout and "loss" in text.stdout


def test_ls_with_the_aim_dir_itself_and_env(tmp_path):
    Run(repo=tmp_path).close()
    assert run_cli("runs", "ls", "--repo", str(tmp_path / ".aim")).returncode == 0
    proc = run_cli("runs", "ls", "--json", env={"AIM_REPO": str(tmp_path)})
    assert len(proc.stdout.splitlines()) == 1


@pytest.mark.parametrize("args,needle", [
    (["runs", "show", "../../etc"], "invalid run hash"),
    (["runs", "show", "0" * 24], "no run 000000000000000000000000"),
    (["runs", "ls", "--repo", "{missing}"], "no aim repository"),
    (["runs", "ls", "--repo", "{file}"], "is a file"),
])
def test_user_errors_are_one_line_and_exit_1(tmp_path, args, needle):
    Run(repo=tmp_path).close()
    (tmp_path / "afile").write_text("x")
    args = [a.format(missing=tmp_path / "missing", file=tmp_path / "afile") for a in args]
    if "--repo" not in args:
        args += ["--repo", str(tmp_path)]
    proc = run_cli(*args)
    assert proc.returncode == 1
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[0].startswith("error: ")


def test_newer_format_is_refused_clearly(tmp_path):
    Run(repo=tmp_path).close()
    (tmp_path / ".aim" / "VERSION").write_text("aim-eventlog 7\n")
    proc = run_cli("runs", "ls", "--repo", str(tmp_path))
    assert proc.returncode == 1 and "newer than this aim reads" in proc.stderr


def test_usage_errors_exit_2(tmp_path):
    proc = run_cli("runs", "ls", "--no-such-option")
    assert proc.returncode == 2 and "No such option" in proc.stderr


def test_reindex_rebuilds_a_deleted_or_corrupt_index(tmp_path):
    with Run(repo=tmp_path) as run:
        run.track(1.0, name="m")
    index = tmp_path / ".aim" / "index" / "index.sqlite"
    index.write_bytes(b"this is not a database" * 100)
    for f in index.parent.glob("index.sqlite-*"):
        f.unlink()
    ls = run_cli("runs", "ls", "--repo", str(tmp_path), "--json")
    assert ls.returncode == 0, ls.stderr
    assert json.loads(ls.stdout)["hash"] == run.hash  # healed on open
    proc = run_cli("storage", "reindex", "--repo", str(tmp_path))
    assert proc.returncode == 0 and "reindexed 1 run" in proc.stdout


def test_ls_imports_nothing_heavy(tmp_path):
    Run(repo=tmp_path).close()
    proc = run_cli("runs", "ls", "--repo", str(tmp_path), env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert proc.returncode == 0
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    for heavy in ("boto3", "psutil", "pynvml", "anyio", "zstandard", "numpy"):
        assert heavy not in imported, heavy


def test_python_dash_m_and_console_script_agree(tmp_path):
    import shutil
    import subprocess

    exe = shutil.which("aim", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert exe is not None
    out = subprocess.run([exe, "version"], capture_output=True, text=True)
    assert out.stdout == run_cli("version").stdout
