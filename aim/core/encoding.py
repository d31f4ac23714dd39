"""Event ⇄ JSON-line bytes.

orjson does the work. JSON has no NaN or infinities, so non-finite floats are stored as the
strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``: in a metric's ``value`` the field is
always numeric, so the string is unambiguous; in a param the event lists the key paths of such
floats in a ``floats`` field, so a param that really is the string ``"NaN"`` stays a string.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from aim.core import events as ev
from aim.core.values import (
    bytes_from_stored,
    float_from_stored,
    nonfinite_to_str,
    plain_context,
    restore_paths,
)

__all__ = ["context_key", "decode_event", "encode_event", "encode_events", "encode_events_salvaging",
           "nonfinite_to_str"]

_DUMP_OPTS = orjson.OPT_APPEND_NEWLINE
_JOIN = b'},{"seq":'  # between two events in orjson's dump of a list of them
_ENCODE_CHUNK = 2048
_SPLIT = b'}\n{"seq":'


def encode_events(batch: list[dict[str, Any]]) -> bytes:
    """Serialize events to JSON lines (each ends with a newline).

    One ``orjson.dumps`` per chunk of events, then each array is cut into lines: about twice
    as fast as a dumps per event (measured). Chunks of 2,048 keep each call (which holds the
    GIL) near a millisecond, so an event loop or a tracking thread never waits on one long
    serialization. Every event's first key is ``seq``, so the elements are joined by
    ``},{"seq":``; that byte string cannot occur inside a JSON string (its quote would be
    escaped), only inside a nested value (a context or param holding a dict with a ``seq`` key
    after another dict). When the count shows one, that chunk takes the slow way.
    """
    if len(batch) <= _ENCODE_CHUNK:
        return _encode_chunk(batch)
    return b"".join([_encode_chunk(batch[i:i + _ENCODE_CHUNK]) for i in range(0, len(batch), _ENCODE_CHUNK)])


def _encode_chunk(batch: list[dict[str, Any]]) -> bytes:
    if not batch:
        return b""
    data = orjson.dumps(batch)
    if data.count(_JOIN) == len(batch) - 1:
        return data[1:-1].replace(_JOIN, _SPLIT) + b"\n"
    dumps, opt = orjson.dumps, _DUMP_OPTS
    return b"".join([dumps(e, option=opt) for e in batch])


def encode_events_salvaging(batch: list[dict[str, Any]]) -> tuple[bytes, str | None]:
    """``encode_events``, except that an event that cannot be encoded does not take the batch
    down with it: it is replaced by an ``event.lost`` event (same ``seq`` and ``ts``, so the
    log stays contiguous) naming what was lost and why. Returns the lines and the first error
    (None when every event encoded).

    Values are made plain at the call (``core.values``), so this is the net under a bug, not a
    path that valid input takes.
    """
    try:
        return encode_events(batch), None
    except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
        pass
    lines, first = [], None
    for event in batch:
        try:
            lines.append(encode_event(event))
        except (TypeError, ValueError) as exc:
            error = f"cannot encode {_describe(event)}: {exc}"
            first = first or error
            lines.append(encode_event({"seq": event.get("seq"), "ts": event.get("ts"),
                                       "type": ev.EVENT_LOST, "lost": str(event.get("type")),
                                       "error": error}))
    return b"".join(lines), first


def _describe(event: dict[str, Any]) -> str:
    what = f"{event.get('type')} event (seq {event.get('seq')})"
    if event.get("type") == ev.METRIC:
        what = f"metric {event.get('name')!r} step {event.get('step')} (seq {event.get('seq')})"
    return what


def encode_event(event: dict[str, Any]) -> bytes:
    """Serialize one event to a JSON line."""
    return orjson.dumps(event, option=_DUMP_OPTS)


def decode_event(line: bytes | str) -> dict[str, Any]:
    """Parse one JSON line into an event, restoring non-finite floats."""
    event = orjson.loads(line)
    if not isinstance(event, dict):
        raise ValueError("event line is not a JSON object")
    etype = event.get("type")
    if etype == ev.METRIC:
        value = event.get("value")
        if isinstance(value, str):
            restored = float_from_stored(value)
            event["value"] = restored if isinstance(restored, float) else math.nan
    elif etype == ev.PARAM_SET:
        if event.get("floats"):
            event["value"] = restore_paths(event.get("value"), event["floats"], float_from_stored)
        if event.get("bytes"):
            event["value"] = restore_paths(event.get("value"), event["bytes"], bytes_from_stored)
    return event


def context_key(context: Any) -> bytes:
    """Canonical bytes of a metric context (sorted keys), used as its identity and stored form.

    Raises ``MetricValueError`` (a ``TypeError`` and a ``ValueError``) when the context is not a
    dict of JSON-like values (numpy scalars are made plain first).
    """
    if context is None:
        return b"{}"
    return orjson.dumps(plain_context(context), option=orjson.OPT_SORT_KEYS)
