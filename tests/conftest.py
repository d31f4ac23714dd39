"""Shared fixtures: a temp repo path, and helpers to run the real CLI and child scripts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHILDREN = Path(__file__).resolve().parent / "children"


@pytest.fixture
def repo_path(tmp_path: Path) -> Path:
    """A folder for a repository (``.aim`` is created inside by the first Run)."""
    p = tmp_path / "repo"
    p.mkdir()
    return p


def run_cli(*args: str, input: str | None = None, cwd: Path | None = None,
            env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real ``aim`` entry point (``python -m aim``) in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "aim", *args],
        input=input, capture_output=True, text=True, cwd=cwd, env=full_env, timeout=timeout,
    )


def run_child(script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``tests/children/<script>`` to completion in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, str(CHILDREN / script), *args],
        capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The endpoint URL of a moto S3 server on loopback, for the whole session (used by
    tests/remote and by the CLI's upload tests)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class AimUp:
    """A real ``aim up`` process (the CLI entry point) serving a repository on loopback."""

    def __init__(self, repo: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aim", "up", "--repo", str(repo), "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()  # "aim up: serving <repo> at <url>"
        if " at http://" not in first:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise RuntimeError(f"aim up did not start: {first!r} {err!r}")
        self.url = first.split(" at ", 1)[1].split()[0]  # with ?token=... when there is one
        self.base = self.url.split("?", 1)[0].rstrip("/")
        self.banner = first

    def stop(self) -> tuple[int, str, str]:
        """SIGINT (Ctrl-C), then what the process printed and its exit status."""
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err


@pytest.fixture
def aim_up() -> Iterator[Callable[..., AimUp]]:
    """Start ``aim up`` on a repository: ``aim_up(repo, *args)``; stopped after the test."""
    started: list[AimUp] = []

    def start(repo: Path, *args: str, env: dict[str, str] | None = None) -> AimUp:
        server = AimUp(repo, *args, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.communicate(timeout=10)
