"""``aim up``: serve the web UI over a repository (the ``ui`` extra: Starlette on uvicorn).

The socket is bound here, before the server starts, so that ``--port 0`` works and the URL
printed is the one that answers. Ctrl-C (SIGINT) stops it cleanly (exit 0): uvicorn closes the
listening socket and ends the live streams; SIGTERM does the same, then ends the process by
that signal, as uvicorn does.
"""

from __future__ import annotations

import secrets
import socket

import click

from aim.cli.options import repo_option
from aim.errors import AimError, MissingExtraError

DEFAULT_PORT = 43800  # Aim's


# -h is --host, as in Aim (`aim up -h 0.0.0.0`): help is --help only here.
@click.command(context_settings={"help_option_names": ["--help"]})
@repo_option
@click.option("-h", "--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs a token (made up and printed "
                   "unless --token or $AIM_UI_TOKEN gives one) or an explicit --no-auth.")
@click.option("-p", "--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--token", default=None, envvar="AIM_UI_TOKEN", metavar="TOKEN",
              help="Require this token on every request (it is part of the printed URL).")
@click.option("--no-auth", is_flag=True, help="Serve a non-loopback address without a token (anyone "
                                              "who can reach it can read and change runs).")
@click.option("--read-only", is_flag=True, help="Refuse every change: no rename, tag, archive, delete.")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def up(repo: str, host: str, port: int, token: str | None, no_auth: bool, read_only: bool,
       log_level: str) -> None:
    """Start the web UI on REPO's runs and print its URL; Ctrl-C stops it."""
    try:
        import uvicorn
    except ImportError:
        raise MissingExtraError("aim up needs the ui extra", hint="pip install 'aim[ui]'") from None
    from aim.sdk.repo import Repo
    from aim.web.app import create_app
    from aim.web.security import is_loopback

    loopback = is_loopback(host)
    if token is not None and (len(token) < 16 or not token.isascii() or not token.isprintable()
                              or any(c in token for c in " ;,\"\\")):
        raise click.BadParameter("a token is at least 16 printable ASCII characters, with no space, "
                                 "quote, comma, semicolon or backslash", param_hint="--token")
    if no_auth and token is not None:
        raise click.UsageError("--no-auth and --token conflict: give one")
    if not loopback and not no_auth and token is None:
        token = secrets.token_urlsafe(24)
    store = Repo(repo)
    # A view of a bucket (--repo s3://...) is read-only: runs change where they are written.
    app = create_app(store, token=token, read_only=read_only or store.remote is not None, loopback=loopback)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by every accepted connection. uvicorn sets it when it binds the socket itself,
    # not on one it is given: without it each response on a kept-alive connection waited
    # ~40 ms (Nagle's algorithm meeting the client's delayed ACK; measured by tools/bench.py).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise AimError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/" + (f"?token={token}" if token else "")
    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=3, lifespan="off",
                            access_log=log_level in ("info", "debug"))
    server = uvicorn.Server(config)
    try:
        # From the banner on, Ctrl-C is a clean stop, even before uvicorn's own handler is in.
        click.echo(f"aim up: serving {store.path} at {url}" + (" (read-only)" if read_only else ""))
        if not loopback and token is None:
            click.echo("warning: --no-auth on a non-loopback address: anyone who reaches it can read "
                       "and change these runs", err=True)
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully on Ctrl-C, then raises the signal again for whoever
        # called it: here, that is a clean stop.
        pass
    finally:
        sock.close()
        store.close()
    click.echo("aim up: stopped")
