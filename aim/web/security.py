"""Who may talk to ``aim up``, as one ASGI middleware in front of every route.

- **Token.** When set (always for a non-loopback bind, unless ``--no-auth``), every request
  carries it: ``?token=`` in the URL the server prints (then kept in an HttpOnly, SameSite=Strict
  cookie), the cookie, or ``Authorization: Bearer``. Compared in constant time.
- **Host.** A loopback server answers only to loopback host names: a page on another site that
  rebinds its DNS name to 127.0.0.1 cannot read runs through the victim's browser.
- **Mutations** (POST, PATCH, PUT, DELETE) come from the UI's own origin (the ``Origin`` header,
  which browsers always send with them, matches the Host), and are refused with ``--read-only``.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "aim_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def is_loopback(host: str) -> bool:
    """True for a host name or address that only this machine can reach."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Guard:
    """The middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, token: str | None, read_only: bool, loopback: bool) -> None:
        self.app = app
        self.token = token
        self.read_only = read_only
        self.loopback = loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        method = scope["method"]
        refusal = self._refusal(scope, headers, host, method)
        if refusal is not None:
            status, message = refusal
            await _json(send, status, {"error": message})
            return
        given = _query_token(scope)
        if (self.token is not None and given is not None and method in SAFE_METHODS
                and hmac.compare_digest(given.encode(), self.token.encode())):
            # The URL's token becomes a cookie, so the page's own requests carry it.
            async def with_cookie(message: Message) -> None:
                if message["type"] == "http.response.start":
                    cookie = f"{COOKIE}={given}; HttpOnly; SameSite=Strict; Path=/"
                    message.setdefault("headers", []).append((b"set-cookie", cookie.encode("latin-1")))
                await send(message)
            await self.app(scope, receive, with_cookie)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: dict[str, str], host: str,
                 method: str) -> tuple[int, str] | None:
        hostname = urlsplit(f"//{host}").hostname or ""
        if self.loopback and not is_loopback(hostname):
            return 403, f"host {hostname!r} refused: this server answers to localhost only"
        if self.token is not None and not self._has_token(scope, headers):
            return 401, "a token is required: open the URL aim up printed (it ends in ?token=...)"
        if method not in SAFE_METHODS:
            if self.read_only:
                return 403, "aim up runs with --read-only: runs cannot be changed from the UI"
            origin = headers.get("origin")
            if origin is None or urlsplit(origin).netloc != host:
                return 403, "refused: a change must come from the aim UI's own page (Origin header)"
        return None

    def _has_token(self, scope: Scope, headers: dict[str, str]) -> bool:
        assert self.token is not None
        candidates = [_query_token(scope)]
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            candidates.append(auth[7:].strip())
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header: as if there were none
            pass
        if COOKIE in cookie:
            candidates.append(cookie[COOKIE].value)
        want = self.token.encode()
        return any(c is not None and hmac.compare_digest(c.encode(), want) for c in candidates)


def _query_token(scope: Scope) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0] if values else None


async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = orjson.dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
