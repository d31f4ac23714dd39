"""AimQL evaluation: a walk over a checked tree, never ``eval``.

Semantics a query author relies on (as in Aim, kinder where Aim raises):

* A missing param, attribute or key is ``MISSING``: it equals ``None``, is falsy, and every
  attribute, key, arithmetic or comparison on it gives ``MISSING`` or False. A query never
  fails on a run that lacks a param.
* A comparison of values that cannot be ordered (``"a" < 1``) is False, not an error.
* Attributes of plain dicts (params, contexts) are their keys: ``run.hparams.lr``.
* Work is bounded: ``**`` whose result would exceed 4,096 bits, and string or list repetition
  past 100,000 items, are refused with a ``QueryError`` naming the column.
"""

from __future__ import annotations

import ast
import datetime as _dt
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from aim.core.query.parse import (
    DATETIME_METHODS,
    DICT_METHODS,
    LIST_METHODS,
    MODULES,
    STR_METHODS,
    Query,
    error,
)

try:  # the parser behind re (3.11+); sre_parse before
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse

MAX_POW_BITS = 4096
MAX_REPEAT = 100_000
MAX_REGEX_CHARS = 1_000


class _Missing:
    """What a missing param or attribute reads as: None-like, and never an error."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __eq__(self, other: object) -> bool:
        return other is None or other is self

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(None)

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


class Queryable:
    """What a view offers a query: attributes and keys by name (never Python ``getattr``)."""

    def query_attr(self, name: str) -> Any:
        """The value of ``obj.name`` in a query, or ``MISSING``."""
        return MISSING

    def query_item(self, key: Any) -> Any:
        """The value of ``obj[key]`` in a query, or ``MISSING``."""
        return MISSING


_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: lambda a, b: _same(a, b),
    ast.IsNot: lambda a, b: not _same(a, b),
    ast.In: lambda a, b: _contains(b, a), ast.NotIn: lambda a, b: not _contains(b, a),
}
_DATETIME_ATTRS = frozenset({"year", "month", "day", "hour", "minute", "second", "microsecond"})


def _same(a: Any, b: Any) -> bool:
    if b is None or b is MISSING:
        return a is None or a is MISSING
    return a is b


def _contains(container: Any, item: Any) -> bool:
    if container is MISSING or item is MISSING:
        return False
    try:
        return item in container
    except TypeError:  # "1 in 'abc'", "x in 5"
        return False


def _regex(name: str) -> Callable[..., Any]:
    func = getattr(re, name)

    def call(pattern: Any, string: Any, flags: int = 0) -> Any:
        if not isinstance(pattern, str) or not isinstance(string, str):
            return MISSING
        if len(pattern) > MAX_REGEX_CHARS:
            raise ValueError(f"a pattern of {len(pattern):,} characters (at most {MAX_REGEX_CHARS:,})")
        if _nested_repeat(_parse_regex(pattern)):
            # (a+)+, (a*b?)*: the shapes that backtrack exponentially on a near-miss, and a
            # query runs over every run: refused, as at most one unbounded repeat per level.
            raise ValueError("a repetition inside a repetition (at most one level, as (ab)+ or a+)")
        return func(pattern, string, flags)

    return call


def _parse_regex(pattern: str) -> Any:
    try:
        return _sre_parse.parse(pattern)
    except re.error:
        return []  # re itself reports the bad pattern when called


def _nested_repeat(parsed: Any, inside: bool = False) -> bool:
    """True when an unbounded repeat sits inside another repeat of the parsed pattern."""
    for op, av in parsed:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            _low, high, sub = av
            unbounded = high == _sre_parse.MAXREPEAT or high > 100
            if inside and unbounded:
                return True
            if _nested_repeat(sub, inside or high > 1):
                return True
        elif name == "SUBPATTERN":
            if _nested_repeat(av[-1], inside):
                return True
        elif name == "BRANCH":
            if any(_nested_repeat(p, inside) for p in av[1]):
                return True
        elif name in ("ASSERT", "ASSERT_NOT") and _nested_repeat(av[1], inside):
            return True
    return False


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len, "abs": abs, "min": min, "max": max, "round": round, "int": int, "float": float,
    "str": str, "bool": bool, "datetime": _dt.datetime, "date": _dt.date,
}
_MODULE_FUNCTIONS = {f"{m}.{f}": _regex(f) for m, fs in MODULES.items() for f in fs}


def evaluate(query: Query, env: Mapping[str, Any]) -> bool:
    """True when the query holds for ``env`` (its variables: ``run``, ``metric``)."""
    if query.empty:
        return True
    return bool(_Evaluator(env).value(query.tree.body))


class _Evaluator:
    def __init__(self, env: Mapping[str, Any]) -> None:
        self.env = env

    def value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.env.get(node.id, MISSING)
        if isinstance(node, ast.BoolOp):
            result: Any = isinstance(node.op, ast.And)
            for part in node.values:
                result = self.value(part)
                if isinstance(node.op, ast.And) and not result:
                    return result
                if isinstance(node.op, ast.Or) and result:
                    return result
            return result
        if isinstance(node, ast.UnaryOp):
            operand = self.value(node.operand)
            if isinstance(node.op, ast.Not):
                return not operand
            if operand is MISSING:
                return MISSING
            try:
                return -operand if isinstance(node.op, ast.USub) else +operand
            except TypeError:
                return MISSING
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.Compare):
            left = self.value(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                right = self.value(right_node)
                if not self._compare(op, left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self.value(node.body) if self.value(node.test) else self.value(node.orelse)
        if isinstance(node, ast.Attribute):
            return attribute(self.value(node.value), node.attr)
        if isinstance(node, ast.Subscript):
            return item(self.value(node.value), self._key(node.slice))
        if isinstance(node, ast.Tuple):
            return tuple(self.value(e) for e in node.elts)
        if isinstance(node, ast.List):
            return [self.value(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            try:
                return {self.value(k): self.value(v) for k, v in zip(node.keys, node.values) if k is not None}
            except TypeError:  # {[1]: 2}: a key Python cannot hash
                raise error(node, "a dict key must be a str, number, bool or None") from None
        if isinstance(node, ast.Call):
            return self._call(node)
        raise error(node, f"{type(node).__name__} cannot be evaluated")  # the checker refused it

    def _key(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Slice):
            parts = [None if p is None else self.value(p) for p in (node.lower, node.upper, node.step)]
            if any(p is MISSING or (p is not None and not isinstance(p, int)) for p in parts):
                return MISSING
            return slice(*parts)
        return self.value(node)

    def _compare(self, op: ast.cmpop, left: Any, right: Any) -> bool:
        if (left is MISSING or right is MISSING) and not isinstance(op, (ast.Eq, ast.NotEq, ast.Is,
                                                                           ast.IsNot, ast.In, ast.NotIn)):
            return False
        try:
            return bool(_COMPARE[type(op)](left, right))
        except (TypeError, ValueError):
            return False

    def _binop(self, node: ast.BinOp) -> Any:
        left, right = self.value(node.left), self.value(node.right)
        if left is MISSING or right is MISSING:
            return MISSING
        if isinstance(node.op, ast.Pow):
            _check_pow(node, left, right)
        if isinstance(node.op, ast.Mult):
            _check_repeat(node, left, right)
        try:
            return _BINOPS[type(node.op)](left, right)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            return MISSING

    def _call(self, node: ast.Call) -> Any:
        args = [self.value(a) for a in node.args]
        kwargs = {k.arg: self.value(k.value) for k in node.keywords if k.arg is not None}
        func = node.func
        target: Callable[..., Any] | None
        if isinstance(func, ast.Name):
            target = _FUNCTIONS[func.id]
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in MODULES:
            target = _MODULE_FUNCTIONS[f"{func.value.id}.{func.attr}"]
        elif isinstance(func, ast.Attribute):
            receiver = self.value(func.value)
            if receiver is MISSING:
                return MISSING
            target = _method(receiver, func.attr)
            if target is None:
                return MISSING  # e.g. .lower() on a number: a mismatch, not an error
        else:  # the checker refused it
            raise error(node, "only named functions and methods can be called")
        if any(a is MISSING for a in args) or any(v is MISSING for v in kwargs.values()):
            return MISSING
        try:
            return target(*args, **kwargs)
        except (TypeError, ValueError, OverflowError, re.error) as exc:
            if "at most" in str(exc):
                raise error(node, str(exc)) from None
            return MISSING


def attribute(obj: Any, name: str) -> Any:
    """``obj.name`` as a query reads it (the checker already refused names starting with ``_``)."""
    if isinstance(obj, Queryable):
        return obj.query_attr(name)
    if isinstance(obj, Mapping):
        return obj.get(name, MISSING)
    if isinstance(obj, (_dt.datetime, _dt.date)) and name in _DATETIME_ATTRS:
        return getattr(obj, name, MISSING)
    return MISSING


def item(obj: Any, key: Any) -> Any:
    """``obj[key]`` as a query reads it: never an error, ``MISSING`` when absent."""
    if obj is MISSING or key is MISSING:
        return MISSING
    if isinstance(obj, Queryable):
        return obj.query_item(key)
    if isinstance(obj, Mapping) and isinstance(key, tuple):
        for part in key:  # run["hparams", "lr"] style paths
            obj = item(obj, part)
        return obj
    try:
        return obj[key]
    except (KeyError, IndexError, TypeError, ValueError):
        return MISSING


def _method(receiver: Any, name: str) -> Callable[..., Any] | None:
    if isinstance(receiver, str):
        allowed = STR_METHODS
    elif isinstance(receiver, (_dt.datetime, _dt.date)):
        allowed = DATETIME_METHODS
    elif isinstance(receiver, dict):
        allowed = DICT_METHODS
    elif isinstance(receiver, (list, tuple)):
        allowed = LIST_METHODS
    else:
        return None
    if name not in allowed:
        return None
    method = getattr(receiver, name, None)
    if name == "get" and method is not None:
        return lambda key, default=MISSING: receiver.get(key, default)
    return method


def _check_pow(node: ast.AST, base: Any, exponent: Any) -> None:
    if (isinstance(base, int) and isinstance(exponent, int) and not isinstance(base, bool)
            and exponent > 0 and abs(base) > 1 and abs(base).bit_length() * exponent > MAX_POW_BITS):
        raise error(node, f"the power is too large (more than {MAX_POW_BITS} bits)")


def _check_repeat(node: ast.AST, left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_REPEAT:
            raise error(node, f"the repetition is too large (more than {MAX_REPEAT:,} items)")
