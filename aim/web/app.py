"""The ``aim up`` application: routes, error mapping, static files (Starlette).

Handlers are thin: they validate what the URL or body says, run the blocking read or edit in a
worker thread (the event loop only streams), and map errors to statuses: a bad query, column or
hash is a 400 with the message (and the query error's column), a missing run 404, a run a live
writer holds 409. The page is one HTML file and plain ES modules under ``static/``; the chart
library is plotly.js as the ``plotly`` package on PyPI ships it, served from where pip put it.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from aim.core.events import OBJECT_KINDS
from aim.errors import (
    AimError,
    InvalidRunHashError,
    MissingExtraError,
    QueryError,
    RunLockedError,
    RunNotFoundError,
)
from aim.sdk.repo import Repo
from aim.web import live, objects_api, run_api
from aim.web.columns import Column, ColumnError
from aim.web.runs_page import DEFAULT_SORT, MAX_COLUMNS, MAX_LIMIT, PageRequest, runs_page
from aim.web.security import Guard
from aim.web.series_api import MAX_METRICS, MAX_POINTS, MAX_RUNS, X_AXES, Metric, SeriesRequest, series_lines

STATIC = Path(__file__).parent / "static"
_COLUMN_AT = re.compile(r"(?:line (\d+), )?column (\d+)")


class BadRequest(ValueError):
    """A request the API cannot take; the message says which parameter and why."""


def plotly_js() -> Path:
    """plotly.js from the installed ``plotly`` package (the ``ui`` extra)."""
    # Found, not imported: importing plotly (the Python library) takes seconds and is not needed.
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("aim up needs the ui extra", hint="pip install 'aim[ui]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise MissingExtraError(f"plotly.js is not where the plotly package keeps it ({path})",
                                hint="pip install --force-reinstall 'aim[ui]'")
    return path


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _error(exc: Exception) -> Response:
    body: dict[str, Any] = {"error": str(exc)}
    if isinstance(exc, QueryError):
        at = _COLUMN_AT.search(str(exc))
        if at:
            body["line"], body["column"] = int(at.group(1) or 1), int(at.group(2))
    if isinstance(exc, RunNotFoundError):
        return _json(body, 404)
    if isinstance(exc, RunLockedError):
        body["error"] += " (a live process writes this run: change it from there, or after it ends)"
        return _json(body, 409)
    return _json(body, 400)


Handler = Callable[[Request], Awaitable[Response]]
_CLIENT_ERRORS = (BadRequest, ColumnError, QueryError, InvalidRunHashError, live.LiveError,
                  run_api.EditError, objects_api.ObjectsError, AimError)


def _api(fn: Callable[[Request], Awaitable[Response]]) -> Handler:
    async def handler(request: Request) -> Response:
        try:
            return await fn(request)
        except _CLIENT_ERRORS as exc:
            return _error(exc)
    return handler


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low:,} and {high:,}, got {value:,}")
    return value


def _json_param(request: Request, name: str, default: Any) -> Any:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest(f"{name} must be JSON, got {raw[:80]!r}") from None


def create_app(repo: Repo, *, token: str | None = None, read_only: bool = False,
               loopback: bool = True) -> Starlette:
    """The ASGI app serving ``repo`` (see ``aim.web.security`` for the token and host rules)."""
    plotly = plotly_js()

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    async def vendor_plotly(request: Request) -> Response:
        return FileResponse(plotly, media_type="text/javascript",
                            headers={"cache-control": "public, max-age=86400"})

    @_api
    async def info(request: Request) -> Response:
        def read() -> dict[str, Any]:
            return {"params": repo.available_params(),
                    "sequences": [{"name": n, "context": c} for n, c in repo.available_sequences()],
                    "read_only": read_only, "repo": str(repo.path), "total_runs": repo.total_runs_count()}
        return _json(await run_in_threadpool(read))

    @_api
    async def runs(request: Request) -> Response:
        specs = _json_param(request, "columns", [])
        if not isinstance(specs, list) or len(specs) > MAX_COLUMNS:
            raise BadRequest(f"columns is a JSON list of at most {MAX_COLUMNS} columns")
        sort = request.query_params.get("sort")
        page_request = PageRequest(
            query=request.query_params.get("q", ""),
            sort=Column.parse(sort) if sort else DEFAULT_SORT,
            descending=request.query_params.get("desc", "1") != "0",
            offset=_int(request, "offset", 0, 0, 10**9),
            limit=_int(request, "limit", 50, 1, MAX_LIMIT),
            columns=tuple(Column.parse(s) for s in specs),
            deleted=request.query_params.get("deleted", "0") == "1",
        )
        return _json(await run_in_threadpool(runs_page, repo, page_request))

    @_api
    async def check_query(request: Request) -> Response:
        from aim.core.query.parse import parse

        parse(request.query_params.get("q", ""))
        return _json({"ok": True})

    @_api
    async def series(request: Request) -> Response:
        specs = _json_param(request, "metrics", [])
        if not isinstance(specs, list) or not 0 < len(specs) <= MAX_METRICS:
            raise BadRequest(f"metrics is a JSON list of 1 to {MAX_METRICS} [name, context] pairs")
        metrics = []
        for spec in specs:
            if (not isinstance(spec, list) or len(spec) != 2 or not isinstance(spec[0], str)
                    or not isinstance(spec[1], dict)):
                raise BadRequest(f"a metric is [name, context], got {str(spec)[:80]}")
            metrics.append(Metric(spec[0], spec[1]))
        x = request.query_params.get("x", "step")
        if x not in X_AXES:
            raise BadRequest(f"x must be one of {', '.join(X_AXES)}, got {x[:40]!r}")
        skip = _json_param(request, "skip", [])
        if not isinstance(skip, list) or not all(isinstance(h, str) for h in skip):
            raise BadRequest("skip is a JSON list of run hashes")
        series_request = SeriesRequest(
            query=request.query_params.get("q", ""), metrics=tuple(metrics), x=x,
            points=_int(request, "points", 1000, 10, MAX_POINTS), skip=frozenset(skip),
            max_runs=_int(request, "max_runs", 200, 1, MAX_RUNS))
        return _json(await run_in_threadpool(series_lines, repo, series_request))

    @_api
    async def run_detail(request: Request) -> Response:
        return _json(await run_in_threadpool(run_api.run_detail, repo, request.path_params["hash"]))

    @_api
    async def run_logs(request: Request) -> Response:
        after = _int(request, "after", 0, 0, 10**9)
        return _json(await run_in_threadpool(run_api.run_logs, repo, request.path_params["hash"], after))

    @_api
    async def run_objects(request: Request) -> Response:
        return _json(await run_in_threadpool(objects_api.object_sequences, repo, request.path_params["hash"]))

    @_api
    async def run_object_steps(request: Request) -> Response:
        params = request.query_params
        kind = params.get("kind", "")
        if kind not in OBJECT_KINDS:
            raise BadRequest(f"kind is one of {', '.join(sorted(OBJECT_KINDS))}, got {kind[:40]!r}")
        context = _json_param(request, "context", {})
        got = await run_in_threadpool(objects_api.object_steps, repo, request.path_params["hash"], kind,
                                      params.get("name", ""), context)
        return _json(got)

    @_api
    async def run_blob(request: Request) -> Response:
        given = request.query_params.get("zst")
        zst = None if given is None else given == "1"
        data, kind = await run_in_threadpool(objects_api.blob, repo, request.path_params["hash"],
                                             request.path_params["sha256"], zst)
        # Named by its content: the same URL always means the same bytes.
        return Response(data, media_type=kind, headers={"cache-control": "public, max-age=31536000, immutable",
                                                        "x-content-type-options": "nosniff"})

    @_api
    async def edit(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise BadRequest("the body must be a JSON object") from None
        return _json(await run_in_threadpool(run_api.edit_run, repo, request.path_params["hash"], body))

    @_api
    async def delete(request: Request) -> Response:
        gone = await run_in_threadpool(run_api.delete_or_restore, repo, request.path_params["hash"], False)
        return _json(gone)

    @_api
    async def restore(request: Request) -> Response:
        back = await run_in_threadpool(run_api.delete_or_restore, repo, request.path_params["hash"], True)
        return _json(back)

    @_api
    async def live_stream(request: Request) -> Response:
        watched = live.parse_watch(request.query_params.get("watch", "[]"))
        x = request.query_params.get("x", "step")
        if x not in X_AXES:
            raise BadRequest(f"x must be one of {', '.join(X_AXES)}")
        return StreamingResponse(live.stream(repo, watched, x, request.is_disconnected),
                                 media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    async def not_found(request: Request) -> Response:
        return _json({"error": f"no such API: {request.url.path}"}, 404)

    routes = [
        Route("/", page), Route("/runs", page), Route("/metrics", page), Route("/run/{hash}", page),
        Route("/vendor/plotly.min.js", vendor_plotly),
        Route("/api/info", info),
        Route("/api/query", check_query),
        Route("/api/runs", runs),
        Route("/api/series", series),
        Route("/api/live", live_stream),
        Route("/api/runs/{hash}", run_detail, methods=["GET"]),
        Route("/api/runs/{hash}", edit, methods=["PATCH"]),
        Route("/api/runs/{hash}", delete, methods=["DELETE"]),
        Route("/api/runs/{hash}/restore", restore, methods=["POST"]),
        Route("/api/runs/{hash}/logs", run_logs),
        Route("/api/runs/{hash}/objects", run_objects),
        Route("/api/runs/{hash}/objects/steps", run_object_steps),
        Route("/api/runs/{hash}/blobs/{sha256}", run_blob),
        Route("/api/{rest:path}", not_found, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [
        Middleware(Guard, token=token, read_only=read_only, loopback=loopback),
        # Level 1: a metrics request of 100 lines x 1,000 points is ~3.5 MB of JSON; level 9
        # (Starlette's default) spent ~0.9 s compressing it, level 1 ~45 ms for 30% more bytes.
        Middleware(GZipMiddleware, minimum_size=2048, compresslevel=1),
    ]
    async def http_error(request: Request, exc: Exception) -> Response:
        # A missing static file or a wrong method: JSON like every other error of the API.
        status = getattr(exc, "status_code", 500)
        return _json({"error": f"{getattr(exc, 'detail', 'error')}: {request.url.path}"}, status)

    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={404: http_error, 405: http_error})
