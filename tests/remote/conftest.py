"""A real S3 API on 127.0.0.1 (moto's server mode), and a loopback proxy that injects faults."""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
         "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
         "AIM_S3_MAX_ATTEMPTS": "6"}


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Test credentials in this process's environment; also returned for subprocesses."""
    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    return {**os.environ, **CREDS}


@pytest.fixture
def bucket(request: pytest.FixtureRequest) -> str:
    """A fresh bucket name per test (the server lives for the session)."""
    name = request.node.name.lower().replace("_", "-")[:40].strip("-")
    return f"t-{name}-{os.urandom(3).hex()}"


def s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(s3={"addressing_style": "path"}))


class FaultProxy:
    """Forwards HTTP to the S3 server; counts requests per method; injects faults.

    ``faults`` maps a request number (1-based, among requests whose method is in
    ``fault_methods``) to "drop" (close the connection without an answer) or "500".
    """

    def __init__(self, target: str) -> None:
        self.target = target.removeprefix("http://")
        self.counts: Counter[str] = Counter()
        self.faults: dict[int, str] = {}
        self.fault_methods = {"PUT", "POST"}
        self.injected: list[str] = []
        self.delay = 0.0  # seconds added before forwarding each request
        self.inflight = 0  # requests being forwarded right now
        self._n = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    proxy.counts[self.command] += 1
                    proxy.inflight += 1
                    fault = None
                    if self.command in proxy.fault_methods:
                        proxy._n += 1
                        fault = proxy.faults.get(proxy._n)
                    if fault:
                        proxy.injected.append(f"{fault} {self.command} {self.path}")
                if fault:
                    with proxy._lock:
                        proxy.inflight -= 1
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault == "500":
                    msg = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
                    self.send_response(500)
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                try:
                    self._forward(body)
                finally:
                    with proxy._lock:
                        proxy.inflight -= 1

            def _forward(self, body: bytes) -> None:
                if proxy.delay:
                    time.sleep(proxy.delay)
                conn = http.client.HTTPConnection(proxy.target, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = proxy.target
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until no request is being forwarded (a killed client's last ones still land)."""
        time.sleep(0.2)  # connections accepted just before: let their handlers start
        deadline = time.monotonic() + timeout
        while self.inflight and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(s3_server: str) -> Iterator[FaultProxy]:
    p = FaultProxy(s3_server)
    yield p
    p.close()
