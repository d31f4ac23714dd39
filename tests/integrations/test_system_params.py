"""System params: redaction of secrets, the JSON-like shape, packages and git state."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from aim.integrations.system_params import (
    REDACTED,
    SYSTEM_PARAMS_KEY,
    collect_system_params,
    is_secret_name,
    redact_argv,
    redact_env,
    redact_urls,
    redact_value,
)

SECRET = "s3cr3t-7f9q-value"


# --- names -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "MY_API_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "aws_profile",
    "DB_PASSWORD", "MYSQL_PWD_PASSWD", "SMTP_PASS", "GITHUB_AUTH", "HF_TOKEN", "SESSION_COOKIE",
    "GOOGLE_APPLICATION_CREDENTIALS", "SSH_PRIVATE_KEY", "WANDB_API_KEY", "client_secret", "api-key",
    "Authorization",
])
def test_secret_names_are_redacted(name):
    assert is_secret_name(name)
    assert redact_value(name, SECRET) == REDACTED
    assert redact_env({name: SECRET}) == {name: REDACTED}


@pytest.mark.parametrize("name", ["PATH", "HOME", "CUDA_VISIBLE_DEVICES", "LANG", "PYTHONPATH", "SHELL"])
def test_harmless_names_keep_their_value(name):
    value = "/usr/local/bin:/usr/bin" if name == "PATH" else "0,1"
    assert not is_secret_name(name)
    assert redact_value(name, value) == value
    assert redact_env({name: value}) == {name: value}


def test_false_positives_are_accepted_on_purpose():
    # over-matching is the documented choice: a redacted harmless value costs nothing
    assert is_secret_name("KEYBOARD_LAYOUT")
    assert redact_value("KEYBOARD_LAYOUT", "us") == REDACTED


def test_empty_secret_values_stay_empty():
    assert redact_env({"HF_TOKEN": "", "PATH": ""}) == {"HF_TOKEN": "", "PATH": ""}


def test_system_params_key():
    assert SYSTEM_PARAMS_KEY == "__system_params"


# --- URLs --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "expected"), [
    ("postgres://alice:hunter2@db:5432/x", "postgres://alice:<redacted>@db:5432/x"),
    ("https://__token__:pypi-AgEI@upload.pypi.org/legacy/", "https://__token__:<redacted>@upload.pypi.org/legacy/"),
    ("redis://:pw@cache:6379/0", "redis://:<redacted>@cache:6379/0"),
    ("mongodb+srv://u:p@ss@h.example/db", "mongodb+srv://u:<redacted>@h.example/db"),  # raw "@" in password
    ("https://ghp_abcdef@github.com/o/r.git", "https://<redacted>@github.com/o/r.git"),  # token as user
    ("https://s3.example/b/k?X-Amz-Credential=AKIA&X-Amz-Date=1&token=t",
     "https://s3.example/b/k?X-Amz-Credential=<redacted>&X-Amz-Date=1&token=<redacted>"),
    ("https://example.com/path?email=a@b.com", "https://example.com/path?email=a@b.com"),
    ("http://localhost:8080/x", "http://localhost:8080/x"),
    ("no url here: user:pass@host", "no url here: user:pass@host"),
])
def test_url_credentials(url, expected):
    assert redact_urls(url) == expected


def test_url_credentials_redacted_in_env_values_under_harmless_names():
    env = {"DATABASE_URL": "postgres://alice:hunter2@db:5432/x", "PIP_INDEX_URL": "https://u:pw@idx/simple",
           "HOME": "/home/alice"}
    assert redact_env(env) == {"DATABASE_URL": "postgres://alice:<redacted>@db:5432/x",
                               "HOME": "/home/alice", "PIP_INDEX_URL": "https://u:<redacted>@idx/simple"}


# --- argv --------------------------------------------------------------------------------------

def test_argv_secret_options_are_redacted():
    argv = ["train.py", "--api-key=abc", "--token", "abc2", "--lr", "0.1", "--password=", "-secret=x",
            "--db-url=postgres://u:hunter2@h/db", "https://u:pw@host/x", "db.password=pw", "epochs=3",
            "--auth-token", "--verbose", "--session", "-Xsecret"]
    assert redact_argv(argv) == [
        "train.py", "--api-key=<redacted>", "--token", "<redacted>", "--lr", "0.1", "--password=",
        "-secret=<redacted>", "--db-url=postgres://u:<redacted>@h/db", "https://u:<redacted>@host/x",
        "db.password=<redacted>", "epochs=3",
        "--auth-token", "--verbose",  # a long option after a secret option is not its value
        "--session", "<redacted>",  # a value that starts with a single "-" still is
    ]


def test_collect_redacts_argv():
    params = collect_system_params(argv=["x.py", "--token", SECRET, f"--api-key={SECRET}", "--n", "1"])
    assert params["argv"] == ["x.py", "--token", REDACTED, f"--api-key={REDACTED}", "--n", "1"]


# --- the collected dict ------------------------------------------------------------------------

def _assert_json_like(value: Any, where: str = "$") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), f"{where}: key {k!r}"
            _assert_json_like(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _assert_json_like(v, f"{where}[{i}]")
    else:
        assert value is None or type(value) in (str, int, float, bool), f"{where}: {type(value)}"


def test_collected_dict_is_json_like_and_round_trips():
    params = collect_system_params()
    assert set(params) == {"executable", "argv", "cwd", "hostname", "pid", "python", "platform",
                           "packages", "git", "env"}
    _assert_json_like(params)
    assert orjson.loads(orjson.dumps(params)) == params
    assert params["executable"] == sys.executable
    assert params["pid"] > 0
    assert params["python"] == {"version": ".".join(map(str, sys.version_info[:3])),
                                "implementation": sys.implementation.name.replace("cpython", "CPython")}
    assert params["argv"][0] == sys.argv[0]
    assert isinstance(params["platform"], str) and params["platform"]
    assert isinstance(params["hostname"], str) and params["hostname"]


def test_odd_environment_does_not_raise_and_stays_serializable(tmp_path):
    env = {"WEIRD": "bytes\udcff\udcfe", "\udcffNAME": "v", "HF_TOKEN": "\udcff"}
    params = collect_system_params(cwd=str(tmp_path / "gone"), env=env, argv=["a\udcff", "--token", "\udcfe"])
    assert orjson.loads(orjson.dumps(params)) == params
    assert params["env"]["WEIRD"] == "bytes\ufffd\ufffd"
    assert params["env"]["HF_TOKEN"] == REDACTED
    assert params["argv"] == ["a\ufffd", "--token", REDACTED]
    assert params["git"] is None  # cwd does not exist
    assert params["cwd"] == str(tmp_path / "gone")


def test_secret_value_appears_nowhere():
    baseline = orjson.dumps(collect_system_params(env={}))
    out = orjson.dumps(collect_system_params(env={"MY_API_TOKEN": "abc"}))
    assert b"MY_API_TOKEN" in out
    assert out.count(b"abc") == baseline.count(b"abc")  # "abc" may occur by chance in a path
    out = orjson.dumps(collect_system_params(env={"MY_API_TOKEN": SECRET, "DB_URL": f"mysql://u:{SECRET}@h"}))
    assert SECRET.encode() not in out


def test_default_env_is_os_environ_redacted(monkeypatch):
    monkeypatch.setenv("AIM_TEST_API_TOKEN", SECRET)
    monkeypatch.setenv("AIM_TEST_PLAIN", "visible")
    env = collect_system_params()["env"]
    assert env["AIM_TEST_API_TOKEN"] == REDACTED
    assert env["AIM_TEST_PLAIN"] == "visible"


def test_packages_are_the_installed_distributions():
    packages = collect_system_params()["packages"]
    assert packages["orjson"] == importlib.metadata.version("orjson")
    normalized = [re.sub(r"[-_.]+", "-", name).lower() for name in packages]
    assert normalized == sorted(set(normalized))  # sorted, no duplicates
    for name, version in packages.items():
        assert importlib.metadata.version(name) == version


# --- git ---------------------------------------------------------------------------------------

def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout.strip()


@pytest.fixture
def no_outer_repo(tmp_path, monkeypatch):
    """Keep git from finding a repository above ``tmp_path``."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_WORK_TREE", raising=False)
    return tmp_path


def test_git_state_in_a_repo(no_outer_repo):
    repo = no_outer_repo / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "trunk")
    assert collect_system_params(cwd=str(repo))["git"] == {"commit": None, "branch": "trunk", "dirty": False}

    (repo / "a.txt").write_text("one\n")
    _git(repo, "add", "a.txt")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")
    git = collect_system_params(cwd=str(repo))["git"]
    assert re.fullmatch(r"[0-9a-f]{40}", git["commit"])
    assert git == {"commit": head, "branch": "trunk", "dirty": False}

    (repo / "untracked.txt").write_text("x\n")  # untracked files do not make it dirty
    assert collect_system_params(cwd=str(repo))["git"]["dirty"] is False

    (repo / "a.txt").write_text("two\n")
    assert collect_system_params(cwd=str(repo))["git"] == {"commit": head, "branch": "trunk", "dirty": True}

    sub = repo / "sub"
    sub.mkdir()
    assert collect_system_params(cwd=str(sub))["git"]["commit"] == head  # any folder in the work tree

    _git(repo, "checkout", "-q", "--detach")
    assert collect_system_params(cwd=str(repo))["git"] == {"commit": head, "branch": None, "dirty": True}


def test_git_is_none_outside_a_repo(no_outer_repo):
    outside = no_outer_repo / "plain"
    outside.mkdir()
    assert collect_system_params(cwd=str(outside))["git"] is None


def test_git_is_none_when_git_is_missing(no_outer_repo, monkeypatch):
    repo = no_outer_repo / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    empty = no_outer_repo / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    params = collect_system_params(cwd=str(repo))
    assert params["git"] is None
    assert params["packages"]["orjson"] == importlib.metadata.version("orjson")  # the rest is still there
