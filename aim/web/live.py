"""Live updates as server-sent events: only what is new, never a history again.

A page opens one stream and names the lines it draws with the last step it has of each. Every
``TICK`` seconds the stream sends the points past those steps of the runs still running (the
series store catches up from the tail of the log: the segment follower), and an ``index`` event
whenever the index changed (a run appeared, finished, was renamed), so that the page refetches
the one table page or the new runs it is missing, not the lines it has.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import orjson
from starlette.concurrency import run_in_threadpool

from aim.core import events as ev
from aim.storage.hashes import validate_run_hash
from aim.web.series_api import X_AXES, Metric, new_points

if TYPE_CHECKING:
    from aim.sdk.repo import Repo

TICK = 0.5  # with the writer's 1 s flush, a tracked point is on the page within 2 s
HEARTBEAT = 15.0  # a comment line keeps proxies from closing an idle stream
MAX_WATCHED = 2_000


class LiveError(ValueError):
    """A malformed ``watch`` list; the message says what is wrong."""


@dataclass
class Watched:
    """One line the page draws, and the last step it has."""

    run: str
    metric: Metric
    after: int


def parse_watch(text: str) -> list[Watched]:
    """``[[hash, name, context, last_step], ...]`` from the URL."""
    try:
        items = orjson.loads(text or "[]")
    except orjson.JSONDecodeError:
        raise LiveError("watch is a JSON list of [hash, name, context, last_step]") from None
    if not isinstance(items, list) or len(items) > MAX_WATCHED:
        raise LiveError(f"watch is a JSON list of at most {MAX_WATCHED:,} lines")
    out = []
    for item in items:
        if (not isinstance(item, list) or len(item) != 4 or not isinstance(item[1], str)
                or not isinstance(item[2], dict) or not isinstance(item[3], int)):
            raise LiveError(f"a watched line is [hash, name, context, last_step], got {str(item)[:80]}")
        out.append(Watched(validate_run_hash(item[0]), Metric(item[1], item[2]), item[3]))
    return out


def _tick(repo: Repo, watched: list[Watched], x: str, version: tuple[int, int] | None
          ) -> tuple[list[dict[str, Any]], tuple[int, int]]:
    """One round (blocking IO, in a worker thread): the events to send, and the index version."""
    out: list[dict[str, Any]] = []
    now = repo.index.data_version()
    if version is not None and now != version:
        out.append({"event": "index", "data": {"version": list(now)}})
    rows = {h: repo.index.run_row(h) for h in {w.run for w in watched}}
    for w in watched:
        row = rows.get(w.run)
        if row is None or row["status"] not in (ev.STATUS_RUNNING, *ev.END_STATUSES):
            continue
        points = new_points(repo, w.run, w.metric, w.after, x, row["creation_time"])
        if points is not None:
            if not points["reset"]:
                w.after = points["last_step"]
            out.append({"event": "points", "data": points})
    # A finished run grows no more: stop asking after its last points went out. A run not
    # indexed yet (its writer has not flushed) is asked again next time.
    watched[:] = [w for w in watched if (rows.get(w.run) or {}).get("status", ev.STATUS_RUNNING)
                  == ev.STATUS_RUNNING]
    return out, now


async def stream(repo: Repo, watched: list[Watched], x: str,
                 disconnected: Any) -> AsyncIterator[bytes]:
    """The event stream of one page (``disconnected``: Starlette's request.is_disconnected)."""
    if x not in X_AXES:
        raise LiveError(f"x is one of {', '.join(X_AXES)}")
    version: tuple[int, int] | None = None
    quiet = 0.0
    yield b"retry: 2000\n\n"
    while not await disconnected():
        events, version = await run_in_threadpool(_tick, repo, watched, x, version)
        for event in events:
            yield f"event: {event['event']}\ndata: ".encode() + orjson.dumps(event["data"]) + b"\n\n"
        quiet = 0.0 if events else quiet + TICK
        if quiet >= HEARTBEAT:
            quiet = 0.0
            yield b": alive\n\n"
        await anyio.sleep(TICK)
