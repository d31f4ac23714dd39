"""What users pass, made into what a run stores: one definition for metrics, steps, contexts
and params.

Every value a training script hands to ``track`` or ``run[key] = ...`` is either turned into a
plain JSON value here, at the call, or refused here with a precise exception. Nothing that
reaches the writer can fail to encode later, far from the caller (issue 14: an ``np.float64``
that passed validation and failed in the flush thread lost a whole run).

The table of types, and what each becomes, is in ``docs/guarantees.md``; in short:

* metric values: ``int``/``float`` and their subclasses (``np.float64``, ``IntEnum``) as the
  exact builtin; anything with ``.item()`` (numpy scalars of every dtype, 0-d and one-element
  arrays and tensors); else anything with ``__float__`` (``Decimal``, ``Fraction``). ``bool``
  (and ``np.bool_``), strings, complex numbers and sequences are refused.
* steps and epochs: anything with ``__index__`` (numpy and torch integers), not bool, >= 0.
* contexts: dicts of str keys and JSON-like values; numpy scalars become Python ones; non-finite
  floats and bytes are refused (a context is an identity, and JSON has no form for them).
* params: JSON-like values plus numpy scalars and arrays (as lists), tensors (``.tolist()``),
  ``pathlib.Path`` and other path-likes (str), enums (the value of an int/str/float enum,
  else the member's name), tuples (lists), ``datetime``/``date``/``time`` (ISO 8601 strings)
  and ``bytes`` (base64 in the log, listed in the event's ``bytes`` field, read back as bytes).
"""

from __future__ import annotations

import base64
import datetime as _dt
import enum
from collections.abc import Mapping
from typing import Any

from aim.errors import MetricValueError, ParamTypeError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_PARAM_DEPTH = 200  # below orjson's own limit (254) and Python's recursion limit
_NONFINITE_TO_STR = {float("inf"): "Infinity", float("-inf"): "-Infinity"}


def nonfinite_to_str(value: float) -> str:
    """Return the stored string for a non-finite float."""
    return "NaN" if value != value else _NONFINITE_TO_STR[value]


# --- metrics --------------------------------------------------------------------------------------
def check_name(name: Any) -> str:
    """A metric name must be a non-empty str: return it (as a plain str), or raise."""
    if not isinstance(name, str) or not name:
        raise MetricValueError(f"metric name must be a non-empty str, got {name!r}")
    return name if type(name) is str else str.__str__(name)


def check_index(value: Any, what: str) -> int:
    """A step or epoch: an int (or anything with ``__index__``, not bool) at or above 0."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        raise MetricValueError(f"{what} must be an int, got {type(value).__name__}")
    try:
        index: int = value.__index__()
    except (AttributeError, TypeError, ValueError, RuntimeError):
        raise MetricValueError(f"{what} must be an int, got {type(value).__name__}") from None
    if index < 0:
        raise MetricValueError(f"{what} must be >= 0, got {index}")
    return index


def metric_value(value: Any, name: str) -> float | int | str:
    """Coerce a tracked value to what a ``metric`` event stores, or raise ``MetricValueError``.

    The result is an exact ``int`` (within 64 bits; wider ones become floats), an exact
    ``float``, or for a non-finite float its stored string. The common case (an exact float)
    is handled by the caller inline; this is the slow path.
    """
    number = real_number(value)
    if number is None:
        raise MetricValueError(
            f"metric {name!r}: value must be a real number, got {type(value).__name__}"
        )
    if type(number) is int:
        # orjson stores 64-bit integers; wider ones would fail in the flusher, far from the caller.
        return number if INT64_MIN <= number <= INT64_MAX else float(number)
    if number - number:  # only NaN and ±inf are not equal to themselves minus themselves
        return nonfinite_to_str(number)
    return number


def real_number(value: Any) -> int | float | None:
    """The exact builtin int or float a value stands for; None when it is not a real number
    (bool, str, complex, sequences and arrays of more than one element included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int.__int__(value)  # an exact int, whatever the subclass (IntEnum) overrides
    if isinstance(value, float):
        return float.__float__(value)  # np.float64 is a float subclass orjson cannot encode
    item = getattr(value, "item", None)
    if item is not None and not isinstance(value, (str, bytes)):
        try:
            inner = item()  # numpy scalars, 0-d/one-element arrays and tensors (a GPU tensor syncs)
        except (ValueError, TypeError, RuntimeError, IndexError):
            return None  # more than one element
        if isinstance(inner, (int, float)) and not isinstance(inner, bool):
            return real_number(inner)
        return None
    if hasattr(type(value), "__float__") and not isinstance(value, (str, bytes, complex)):
        try:
            return float(value)  # Decimal, Fraction, and user types that say they are reals
        except (TypeError, ValueError, OverflowError):
            return None
    return None


# --- contexts and params --------------------------------------------------------------------------
class Stored:
    """A value made plain for the log, with the sub-paths whose JSON form needs a note.

    ``floats`` lists where a non-finite float became its string, ``bytes`` where bytes became
    base64 (list indexes as strings), so that readers restore them exactly.
    """

    __slots__ = ("bytes", "floats", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self.floats: list[list[str]] = []
        self.bytes: list[list[str]] = []


def param_value(value: Any, path: tuple[str, ...]) -> Stored:
    """Validate a param value and return its stored form (a deep copy of plain JSON values).

    Raises ``ParamTypeError`` naming the full key path of the first offending value.
    """
    out = Stored()
    out.value = _plain(value, path, [], out, _param_error)
    return out


def param_payload(value: Any, path: tuple[str, ...]) -> dict[str, Any]:
    """The fields of a ``param.set`` event setting ``path`` to ``value`` (made plain, with the
    paths of its non-finite floats and bytes), or the precise exception."""
    stored = param_value(value, path)
    payload: dict[str, Any] = {"path": list(path), "value": stored.value}
    if stored.floats:
        payload["floats"] = stored.floats
    if stored.bytes:
        payload["bytes"] = stored.bytes
    return payload


def json_like(value: Any, path: tuple[str, ...]) -> tuple[Any, list[list[str]]]:
    """``param_value`` for values that must hold no bytes (log record fields): the stored copy
    and the paths of non-finite floats."""
    out = param_value(value, path)
    if out.bytes:
        raise ParamTypeError(f"param {_show(path, out.bytes[0])}: bytes are not allowed here")
    return out.value, out.floats


def plain_context(context: Any) -> dict[str, Any]:
    """A metric context as plain JSON values; raises ``MetricValueError`` naming what is wrong."""
    if isinstance(context, Mapping) and not isinstance(context, dict):
        context = dict(context)  # a Context (aim.storage.context), or any read-only mapping
    if not isinstance(context, dict):
        raise MetricValueError(f"context must be a dict, got {type(context).__name__}")
    out = Stored()
    value = _plain(context, ("context",), [], out, _context_error)
    if out.floats or out.bytes:
        bad = (out.floats or out.bytes)[0]
        raise MetricValueError(
            f"{_show(('context',), bad)}: non-finite floats and bytes cannot be part of a context"
        )
    return value  # type: ignore[no-any-return]


def _param_error(message: str) -> Exception:
    return ParamTypeError(f"param {message}")


def _context_error(message: str) -> Exception:
    return MetricValueError(message)


def _plain(v: Any, path: tuple[str, ...], here: list[str], out: Stored, error: Any) -> Any:
    if v is None or type(v) in (bool, str):
        return v
    if len(here) + len(path) > MAX_PARAM_DEPTH:
        # orjson refuses deeper values, and Python's recursion would fail first anyway: say so
        # here, naming where, instead of a RecursionError from deep inside.
        raise error(f"{_show(path, here[:8])}...: nested deeper than {MAX_PARAM_DEPTH} levels")
    if isinstance(v, enum.Enum) and not isinstance(v, (int, float, str)):
        # IntEnum/StrEnum members are their values (below); other members read best by name.
        return v.name
    return _plain_scalar(v, path, here, out, error)


def _plain_scalar(v: Any, path: tuple[str, ...], here: list[str], out: Stored, error: Any) -> Any:
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, int):
        v = int.__int__(v)
        if not INT64_MIN <= v <= INT64_MAX:
            raise error(f"{_show(path, here)}: integer {v} does not fit in 64 bits")
        return v
    if isinstance(v, float):
        v = float.__float__(v)
        if v - v:
            out.floats.append(list(here))
            return nonfinite_to_str(v)
        return v
    if isinstance(v, dict):
        result = {}
        for k, item in v.items():
            if not isinstance(k, str):
                raise error(f"{_show(path, here)}: dict key {k!r} is a {type(k).__name__}, keys must be str")
            k = str.__str__(k)
            result[k] = _plain(item, path, [*here, k], out, error)
        return result
    if isinstance(v, (list, tuple)):
        return [_plain(item, path, [*here, str(i)], out, error) for i, item in enumerate(v)]
    if isinstance(v, (bytes, bytearray, memoryview)):
        out.bytes.append(list(here))
        return base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, (_dt.datetime, _dt.date, _dt.time)):
        return v.isoformat()
    fspath = getattr(type(v), "__fspath__", None)
    if fspath is not None:  # pathlib.Path and every os.PathLike (core does no IO: no os import)
        return _plain(fspath(v), path, here, out, error)
    if hasattr(v, "dtype") and hasattr(v, "tolist"):
        # numpy scalars and arrays, tensors (a GPU tensor syncs), pandas series: Python values.
        try:
            plain = v.tolist()
        except Exception as exc:
            raise error(f"{_show(path, here)}: cannot convert {type(v).__name__} ({exc})") from None
        if type(plain) is type(v):  # a tolist() that does not convert: do not loop forever
            raise error(f"{_show(path, here)}: cannot convert {type(v).__name__}")
        return _plain(plain, path, here, out, error)
    raise error(
        f"{_show(path, here)}: value of type {type(v).__name__} is not supported (use dict, list, "
        "tuple, str, int, float, bool, None, bytes, datetime, Path, an enum, or numpy/torch values)"
    )


def _show(path: tuple[str, ...], here: list[str]) -> str:
    return ".".join([*path, *here]) or "<root>"


# --- read back: stored forms to Python and to JSON --------------------------------------------------
_STR_TO_NONFINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def restore_paths(value: Any, paths: list[list[str]], restore: Any) -> Any:
    """Apply ``restore`` to the leaves at ``paths`` (in place where nested); return the value."""
    for sub in paths:
        if not isinstance(sub, list):
            continue
        if not sub:
            value = restore(value)
            continue
        parent = value
        try:
            for key in sub[:-1]:
                parent = parent[int(key)] if isinstance(parent, list) else parent[key]
            last = int(sub[-1]) if isinstance(parent, list) else sub[-1]
            parent[last] = restore(parent[last])
        except (KeyError, IndexError, ValueError, TypeError):
            continue  # a path that no longer matches is ignored, as readers ignore unknowns
    return value


def float_from_stored(value: Any) -> Any:
    """``"NaN"``/``"Infinity"``/``"-Infinity"`` back to floats; anything else unchanged."""
    return _STR_TO_NONFINITE.get(value, value) if isinstance(value, str) else value


def bytes_from_stored(value: Any) -> Any:
    """A base64 string back to bytes; anything else unchanged."""
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            return value
    return value


def to_json_form(value: Any) -> Any:
    """A read-back value in the log's JSON form, for the index and exports: non-finite floats
    as their strings, bytes as base64 (orjson would write null, or refuse)."""
    if isinstance(value, float):
        return nonfinite_to_str(value) if value - value else value
    if isinstance(value, dict):
        return {k: to_json_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json_form(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value
