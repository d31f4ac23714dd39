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
from aim.errors import MetricValueError, ParamTypeError

_DUMP_OPTS = orjson.OPT_APPEND_NEWLINE
_JOIN = b'},{"seq":'  # between two events in orjson's dump of a list of them
_ENCODE_CHUNK = 2048
_SPLIT = b'}\n{"seq":'
_NONFINITE_TO_STR = {math.inf: "Infinity", -math.inf: "-Infinity"}
_STR_TO_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
MAX_PARAM_DEPTH = 200  # below orjson's own limit (254) and Python's recursion limit


def nonfinite_to_str(value: float) -> str:
    """Return the stored string for a non-finite float."""
    return "NaN" if value != value else _NONFINITE_TO_STR[value]


def check_name(name: Any) -> str:
    """A metric name must be a non-empty str: return it, or raise ``MetricValueError``."""
    if not isinstance(name, str) or not name:
        raise MetricValueError(f"metric name must be a non-empty str, got {name!r}")
    return name


def check_index(value: Any, what: str) -> int:
    """A step or epoch: an int (or anything with ``__index__``, not bool) at or above 0."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise MetricValueError(f"{what} must be an int, got {type(value).__name__}")
    value = value.__index__()
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}")
    return value


def metric_value(value: Any, name: str) -> float | int | str:
    """Coerce a tracked value to what a ``metric`` event stores, or raise ``MetricValueError``.

    Accepts int and float, numpy scalars and 0-d arrays or tensors (anything with ``.item()``).
    Non-finite floats become their stored strings. The common case (a float) is handled by the
    caller inline; this is the slow path.
    """
    original = value
    if not isinstance(value, (int, float)) and hasattr(value, "item"):
        try:
            value = value.item()
        except (ValueError, TypeError, RuntimeError) as exc:
            # A tensor with more than one element lands here.
            raise MetricValueError(
                f"metric {name!r}: value of type {type(original).__name__} is not a scalar ({exc})"
            ) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MetricValueError(
            f"metric {name!r}: value must be a real number, got {type(original).__name__}"
        )
    if isinstance(value, int):
        # orjson stores 64-bit integers; wider ones would fail in the flusher, far from the caller.
        return value if _INT64_MIN <= value <= _INT64_MAX else float(value)
    if value - value:  # only NaN and ±inf are not equal to themselves minus themselves
        return nonfinite_to_str(value)
    return value


def json_like(value: Any, path: tuple[str, ...]) -> tuple[Any, list[list[str]]]:
    """Validate a param value and return ``(stored_copy, float_paths)``.

    ``stored_copy`` is a deep copy made only of dict/list/str/int/float/bool/None with
    non-finite floats replaced by strings; ``float_paths`` lists the sub-paths (relative to
    ``path``, list indexes as strings) where that replacement happened. Raises
    ``ParamTypeError`` naming the full key path of the first offending value.
    """
    floats: list[list[str]] = []

    def walk(v: Any, here: list[str]) -> Any:
        if v is None or isinstance(v, (bool, str)):
            return v
        if len(here) + len(path) > MAX_PARAM_DEPTH:
            # orjson refuses deeper values, and Python's recursion would fail first anyway:
            # say so here, naming where, instead of a RecursionError from deep inside.
            raise ParamTypeError(
                f"param {_show(path, here[:8])}...: nested deeper than {MAX_PARAM_DEPTH} levels"
            )
        if isinstance(v, int):
            if not _INT64_MIN <= v <= _INT64_MAX:
                raise ParamTypeError(f"param {_show(path, here)}: integer {v} does not fit in 64 bits")
            return v
        if isinstance(v, float):
            if v - v:
                floats.append(list(here))
                return nonfinite_to_str(v)
            return v
        if isinstance(v, dict):
            out = {}
            for k, item in v.items():
                if not isinstance(k, str):
                    raise ParamTypeError(
                        f"param {_show(path, here)}: dict key {k!r} is a {type(k).__name__}, "
                        "keys must be str"
                    )
                out[k] = walk(item, [*here, k])
            return out
        if isinstance(v, (list, tuple)):
            return [walk(item, [*here, str(i)]) for i, item in enumerate(v)]
        raise ParamTypeError(
            f"param {_show(path, here)}: value of type {type(v).__name__} is not JSON-like "
            "(use dict, list, tuple, str, int, float, bool or None)"
        )

    return walk(value, []), floats


def _show(path: tuple[str, ...], here: list[str]) -> str:
    return ".".join([*path, *here]) or "<root>"


def restore_floats(value: Any, float_paths: list[list[str]]) -> Any:
    """Undo ``json_like``'s string replacement for the listed sub-paths (in place where nested)."""
    for sub in float_paths:
        if not sub:
            value = _STR_TO_NONFINITE.get(value, value)
            continue
        parent = value
        try:
            for key in sub[:-1]:
                parent = parent[int(key)] if isinstance(parent, list) else parent[key]
            last = int(sub[-1]) if isinstance(parent, list) else sub[-1]
            parent[last] = _STR_TO_NONFINITE.get(parent[last], parent[last])
        except (KeyError, IndexError, ValueError, TypeError):
            continue  # a path that no longer matches is ignored, as readers ignore unknowns
    return value


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
            event["value"] = _STR_TO_NONFINITE.get(value, math.nan)
    elif etype == ev.PARAM_SET and event.get("floats"):
        event["value"] = restore_floats(event.get("value"), event["floats"])
    return event


def context_key(context: Any) -> bytes:
    """Canonical bytes of a metric context (sorted keys), used as its identity and stored form.

    Raises ``TypeError`` when the context is not a dict of JSON-like values.
    """
    if context is None:
        return b"{}"
    if not isinstance(context, dict):
        raise TypeError(f"context must be a dict, got {type(context).__name__}")
    try:
        return orjson.dumps(context, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:
        raise TypeError(f"context {context!r} is not JSON-like: {exc}") from None
