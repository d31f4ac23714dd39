"""Who may talk to ``aim up``: a real server process, real HTTP on loopback.

A non-loopback bind gets a token (made up and printed) unless --no-auth says otherwise; requests
without it are refused; the token in the URL becomes a cookie; a loopback server refuses foreign
Host names (DNS rebinding); changes need the page's own Origin and are refused with --read-only;
hostile queries and paths are 4xx with a message, and change nothing.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from aim import Run
from tests.conftest import run_cli

QUIET = {"system_tracking_interval": None, "capture_terminal_logs": False}


def _repo(tmp_path: Path) -> str:
    with Run(repo=tmp_path, experiment="e", **QUIET) as run:
        run["hparams"] = {"lr": 0.1}
        run.track(1.0, name="loss")
    return run.hash


def _loopback_url(base: str) -> str:
    # The server listens on every interface; the test only ever talks to loopback.
    port = base.rsplit(":", 1)[1]
    return f"http://127.0.0.1:{port}"


def test_non_loopback_bind_makes_a_token_and_refuses_requests_without_it(tmp_path: Path, aim_up: Any) -> None:
    _repo(tmp_path)
    server = aim_up(tmp_path, "--host", "0.0.0.0")
    assert "?token=" in server.url
    token = server.url.split("?token=", 1)[1]
    assert len(token) >= 24
    base = _loopback_url(server.base)
    for path in ("/api/info", "/api/runs", "/", "/static/index.html", "/vendor/plotly.min.js"):
        r = httpx.get(base + path)
        assert r.status_code == 401 and "token" in r.json()["error"], path
    assert httpx.get(base + "/api/info", params={"token": "x" * 32}).status_code == 401
    assert httpx.get(base + "/api/info", headers={"authorization": f"Bearer {token}"}).status_code == 200
    # The URL's token becomes a cookie: the page's own requests need nothing else.
    with httpx.Client(base_url=base) as client:
        first = client.get("/", params={"token": token})
        assert first.status_code == 200 and "HttpOnly" in first.headers["set-cookie"]
        assert client.get("/api/runs").status_code == 200


def test_a_given_token_and_no_auth(tmp_path: Path, aim_up: Any) -> None:
    _repo(tmp_path)
    token = "s3cret-token-for-tests-0123"
    server = aim_up(tmp_path, env={"AIM_UI_TOKEN": token})  # also on loopback, when given
    assert server.url.endswith(f"?token={token}")
    assert httpx.get(server.base + "/api/info").status_code == 401
    assert httpx.get(server.base + "/api/info", params={"token": token}).status_code == 200
    open_server = aim_up(tmp_path, "--host", "0.0.0.0", "--no-auth")
    assert "?token=" not in open_server.url
    assert httpx.get(_loopback_url(open_server.base) + "/api/info").status_code == 200
    code, _, err = open_server.stop()
    assert code == 0 and "--no-auth on a non-loopback address" in err
    for args, words in [(["--token", "short"], "at least 16"),
                        (["--token", "a" * 20, "--no-auth"], "conflict")]:
        r = run_cli("up", "--repo", str(tmp_path), "--port", "0", *args)
        assert r.returncode == 2 and words in r.stderr, r.stderr


def test_loopback_server_refuses_foreign_host_names(tmp_path: Path, aim_up: Any) -> None:
    _repo(tmp_path)
    server = aim_up(tmp_path)
    assert httpx.get(server.base + "/api/info").status_code == 200
    for host in ("evil.example", "attacker.test:80", "10.0.0.1"):
        r = httpx.get(server.base + "/api/info", headers={"host": host})
        assert r.status_code == 403 and "localhost only" in r.json()["error"], host
    assert httpx.get(server.base + "/api/info", headers={"host": "localhost"}).status_code == 200


def test_changes_need_the_pages_origin_and_read_only_refuses_them_all(tmp_path: Path, aim_up: Any) -> None:
    h = _repo(tmp_path)
    server = aim_up(tmp_path)
    base = server.base
    for origin in (None, "http://evil.example", "null", base.replace("127.0.0.1", "localhost")):
        headers = {} if origin is None else {"origin": origin}
        r = httpx.patch(f"{base}/api/runs/{h}", json={"name": "pwned"}, headers=headers)
        assert r.status_code == 403 and "Origin" in r.json()["error"], origin
        assert httpx.delete(f"{base}/api/runs/{h}", headers=headers).status_code == 403
    assert Run(h, repo=tmp_path, read_only=True).name is None

    ro = aim_up(tmp_path, "--read-only")
    own = {"origin": ro.base}
    for method, path, body in [("PATCH", f"/api/runs/{h}", {"name": "x"}), ("DELETE", f"/api/runs/{h}", None),
                               ("POST", f"/api/runs/{h}/restore", None), ("PUT", f"/api/runs/{h}", {}),
                               ("POST", "/api/runs", {})]:
        r = httpx.request(method, ro.base + path, json=body, headers=own)
        assert r.status_code == 403 and "read-only" in r.json()["error"], (method, path)
    assert httpx.get(ro.base + "/api/info").json()["read_only"] is True
    run = Run(h, repo=tmp_path, read_only=True)
    assert (run.name, run.archived, run.status) == (None, False, "finished")


HOSTILE = [
    "().__class__", "run.__dict__", "run.hparams.__class__.__mro__", "__import__('os')",
    "(lambda: 1)()", "[x for x in range(10**9)]", "10**10**10", "'a' * 10**9",
    "(" * 500 + "1" + ")" * 500, "'" + "x" * 1_000_000 + "'", "open('/etc/passwd')",
    "run.hparams.lr.__init__.__globals__",
]


@pytest.mark.parametrize("query", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_queries_are_a_400_with_a_message(query: str, hostile_server: Any) -> None:
    base, started = hostile_server
    t0 = time.time()
    # /api/runs and /api/series evaluate the query (10**10**10 is refused there, not by the
    # parser that /api/query runs alone).
    for path in ("/api/runs", "/api/series"):
        params = {"q": query, "metrics": '[["loss", {}]]'}
        if len(query) > 100_000:
            # Longer than any URL the server reads (h11 refuses the request line): refused
            # before the query language sees it, a 4xx or a closed connection.
            # httpx will not send such a URL: write the request line by hand.
            host, port = base.rsplit("/", 1)[1].split(":")
            with socket.create_connection((host, int(port)), timeout=10) as conn:
                try:
                    conn.sendall(f"GET {path}?q={quote(query)} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                    reply = conn.recv(100)
                except OSError:  # reset while sending: refused as well
                    reply = b""
            assert reply == b"" or reply.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")), reply
            continue
        r = httpx.get(base + path, params=params)
        assert r.status_code == 400 and r.json()["error"], (query[:40], r.text[:200])
    assert time.time() - t0 < 10
    assert httpx.get(base + "/api/runs").json()["total"] == started  # still serving, nothing changed


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.conftest import AimUp

    repo = tmp_path_factory.mktemp("hostile")
    _repo(repo)
    server = AimUp(repo)
    yield server.base, 1
    server.stop()


def test_paths_and_hashes_from_requests_are_validated(tmp_path: Path, aim_up: Any) -> None:
    _repo(tmp_path)
    base = aim_up(tmp_path).base
    for path in ("/static/../.aim/VERSION", "/static/%2e%2e/%2e%2e/pyproject.toml", "/static/..%2f..%2fapp.py",
                 "/api/runs/..%2F..%2FVERSION/logs", "/api/runs/%00/logs"):
        r = httpx.get(base + path)
        assert r.status_code in (400, 404), path
        assert b"schema" not in r.content and b"[project]" not in r.content
    r = httpx.get(base + "/api/series", params={"metrics": json.dumps([["loss", {}]]), "skip": "[1]"})
    assert r.status_code == 400


def test_ctrl_c_stops_it_and_a_taken_port_is_a_one_line_error(tmp_path: Path, aim_up: Any) -> None:
    _repo(tmp_path)
    server = aim_up(tmp_path)
    code, out, _ = server.stop()
    assert code == 0 and "aim up: stopped" in out
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = run_cli("up", "--repo", str(tmp_path), "--port", str(port))
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr
