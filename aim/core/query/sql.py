"""AimQL to SQL: what the index's SQLite can decide about a query, as two bounds.

A query compiles to two conditions over the index's ``runs`` table: ``where`` holds for every
run the query matches (a superset), ``certain`` only for runs it surely matches (a subset). The
caller selects the rows ``where`` holds and evaluates the query in Python over those ``certain``
does not hold for. Every part compiles to such a pair, so ``not`` swaps them and needs no
exactness; what SQL cannot decide is (TRUE, FALSE). Constants are always bound arguments.

Compiled: run columns (``hash``, ``name``, ``experiment``, ``description``, ``creation_time``,
``end_time``, ``archived``, ``deleted``), ``tags``, params by path through SQLite's JSON
functions, ``run.metrics[name, ctx].last/.last_step/.count``, compared with constants (``==``
... ``>=``, ``in``, ``not in``, ``is``), ``startswith``/``endswith``, truthiness, ``and``, ``or``,
``not``, ``if``-``else``. Only bounded (Python decides between): ``status``/``active`` of runs
recorded running or crashed (a lock probe decides), rows whose params hold NaN, infinities, bytes
or NUL, reals parsed from JSON near a constant, indexes into a str. The rest is Python's.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aim.core import events as ev
from aim.core.encoding import context_key
from aim.core.query.parse import Query

MAX_ARGS = 30_000  # SQLite binds at most 32,766 values per statement
MAX_SQL_CHARS = 1_000_000
# A real parsed from JSON text by SQLite may differ in its last bits from Python's parse on a
# build whose conversion is not correctly rounded: in this band around a constant, SQL only says
# "maybe" and Python decides (1e-300 covers subnormals).
_REL, _ABS = 1e-9, 1e-300


@dataclass(frozen=True)
class Sql:
    """SQL text and the values bound to its ``?`` placeholders, in order."""

    text: str
    args: tuple[Any, ...] = ()


TRUE, FALSE = Sql("1"), Sql("0")


def _cat(*parts: str | Sql) -> Sql:
    texts = [p if isinstance(p, str) else p.text for p in parts]
    return Sql("".join(texts), tuple(a for p in parts if isinstance(p, Sql) for a in p.args))


def _arg(value: Any) -> Sql:
    return Sql("?", (value,))


def _join(op: str, parts: tuple[Sql, ...] | list[Sql], unit: Sql, zero: Sql) -> Sql:
    kept = [p for p in parts if p != unit]
    if zero in kept or not kept:
        return zero if kept else unit
    if len(kept) == 1:
        return kept[0]
    mid = len(kept) // 2  # balanced: a long `and` chain stays shallow (SQLite bounds the depth)
    return _cat("(", _join(op, kept[:mid], unit, zero), f") {op} (", _join(op, kept[mid:], unit, zero), ")")


def _and(*parts: Sql) -> Sql:
    return _join("AND", parts, TRUE, FALSE)


def _or(*parts: Sql) -> Sql:
    return _join("OR", parts, FALSE, TRUE)


def _not(part: Sql) -> Sql:
    return FALSE if part == TRUE else TRUE if part == FALSE else _cat("NOT (", part, ")")


@dataclass(frozen=True)
class Cond:
    """A condition as two-valued (never NULL) SQL bounds: ``sure`` ⊆ the matches ⊆ ``maybe``."""

    maybe: Sql
    sure: Sql

    def negate(self) -> Cond:
        """The bounds of ``not`` this condition."""
        return Cond(_not(self.sure), _not(self.maybe))


UNKNOWN = Cond(TRUE, FALSE)  # what SQL cannot decide: every run may match, none surely does


def _exact(part: Sql) -> Cond:
    return Cond(part, part)


def _both(join: Callable[..., Sql], conds: list[Cond]) -> Cond:
    return Cond(join(*(c.maybe for c in conds)), join(*(c.sure for c in conds)))


@dataclass(frozen=True)
class CompiledQuery:
    """A query as SQL over ``runs``: the rows ``where`` holds for are a superset of the matches,
    those ``certain`` holds for are matches; ``exact`` when ``where`` alone decides."""

    where: str
    args: tuple[Any, ...]
    certain: str
    certain_args: tuple[Any, ...]
    exact: bool

    def after(self, creation_time: float | None, run_hash: str) -> CompiledQuery:
        """Only the runs after this one in the index's order (``creation_time``, NULL first,
        then ``hash``): Aim's ``offset``."""
        if creation_time is None:
            later = _cat("(runs.creation_time IS NOT NULL OR runs.hash > ", _arg(run_hash), ")")
        else:
            later = _cat("(runs.creation_time > ", _arg(creation_time), " OR (runs.creation_time = ",
                         _arg(creation_time), " AND runs.hash > ", _arg(run_hash), "))")
        where = _and(Sql(self.where, self.args), later)
        return CompiledQuery(where.text, where.args, self.certain, self.certain_args, self.exact)


def compile_query(query: Query) -> CompiledQuery:
    """The SQL bounds of a checked query (see the module's docstring)."""
    cond = _exact(TRUE) if query.empty else _truth(query.tree.body)
    if (len(cond.maybe.args) + len(cond.sure.args) > MAX_ARGS
            or len(cond.maybe.text) + len(cond.sure.text) > MAX_SQL_CHARS):
        cond = UNKNOWN  # too big for one statement: Python evaluates every run
    if cond.maybe == cond.sure:
        return CompiledQuery(cond.maybe.text, cond.maybe.args, "1", (), True)
    return CompiledQuery(cond.maybe.text, cond.maybe.args, cond.sure.text, cond.sure.args, False)


# --- a run's values in SQL -------------------------------------------------------------------------
@dataclass(frozen=True)
class _Variant:
    """A value a run may have: its JSON type name in SQL (NULL: missing) and its SQL value."""

    type: Sql
    value: Sql
    parsed: bool = False  # its reals are parsed from JSON text by SQLite (see _REL)
    walk: Sql | None = None  # json_each over it (its items or keys), when it is JSON


@dataclass(frozen=True)
class _Slot:
    """A run's value: one of ``variants``; where ``doubt`` holds, SQL's view may be wrong."""

    variants: tuple[_Variant, ...]
    doubt: Sql = FALSE


@dataclass(frozen=True)
class _Json:
    """A path into a JSON column, as the query walks it."""

    doc: str
    path: tuple[str | int, ...]
    doubt: Sql

    def extend(self, keys: tuple[str | int, ...]) -> _Json:
        return _Json(self.doc, self.path + keys, self.doubt)

    def slot(self) -> _Slot:
        at = json_path
        # Python indexes a str ("abc"[0]); a JSON path does not: Python decides those rows.
        doubts = [_cat("coalesce(json_type(", self.doc, at(self.path[:i]), ") = 'text', 0)")
                  for i, k in enumerate(self.path) if isinstance(k, int)]
        json = (self.doc, at(self.path), ")")
        return _Slot((_Variant(_cat("json_type(", *json), _cat("json_extract(", *json), parsed=True,
                               walk=_cat("json_each(", *json)),), _or(self.doubt, *doubts))


def json_path(path: tuple[str | int, ...]) -> Sql:
    """A path into a JSON document as SQLite's JSON functions take it, bound as an argument."""
    return _arg("$" + "".join(f'."{k}"' if isinstance(k, str) else f"[{k}]" if k >= 0 else f"[#{k}]"
                              for k in path))


def param_sql(path: tuple[str, ...]) -> Sql:
    """A run's param at ``path`` (its JSON form: NaN and bytes are strings), for ordering."""
    return _cat("json_extract(runs.params, ", json_path(path), ")")


def metric_last_sql(name: str, context_json: str) -> Sql:
    """The last value of a run's sequence (NULL when it has none; NaN is NULL), for ordering."""
    return _sequence((name, context_json), _LAST)


# Params are JSON in the index: NaN, infinities and bytes are strings there (such a row has
# params_marks), and SQLite's JSON functions cut a string at an escaped NUL. Python decides those.
_PARAMS = _Json("runs.params, ", (), Sql("(runs.params_marks != '' OR instr(runs.params, '\\u0000') > 0)"))
_TAGS = _Json("runs.tags, ", (), Sql("instr(runs.tags, '\\u0000') > 0"))
_LIVE = f"runs.status IN ('{ev.STATUS_RUNNING}', '{ev.STATUS_CRASHED}')"


def _column(name: str, null: str) -> _Slot:
    kind = f"CASE typeof(runs.{name}) WHEN 'null' THEN {null} ELSE typeof(runs.{name}) END"
    return _Slot((_Variant(Sql(kind), Sql(f"runs.{name}")),))


def _run_attr(name: str) -> _Slot | _Json | None:
    """``run.<name>`` as ``RunView`` answers it."""
    if name in ("hash", "experiment", "creation_time", "end_time", "name", "description"):
        return _column(name, "'null'" if name in ("name", "description") else "NULL")  # None, or missing
    if name in ("archived", "deleted"):
        return _Slot((_Variant(Sql(f"CASE WHEN runs.{name} THEN 'true' ELSE 'false' END"),
                               Sql(f"(runs.{name} != 0)")),))
    # A run recorded running or crashed is running while a live writer holds its lock, else
    # crashed: SQL cannot probe the lock, so it is either.
    if name == "status":
        return _Slot(tuple(_Variant(Sql("'text'"), Sql(f"CASE WHEN {_LIVE} THEN '{s}' ELSE runs.status END"))
                           for s in (ev.STATUS_RUNNING, ev.STATUS_CRASHED)))
    if name == "active":
        return _Slot((_Variant(Sql(f"CASE WHEN {_LIVE} THEN 'true' ELSE 'false' END"), Sql(f"({_LIVE})")),
                      _Variant(Sql("'false'"), Sql("0"))))
    if name in ("tags", "params"):
        return _TAGS if name == "tags" else _PARAMS
    if name in ("created_at", "finalized_at", "duration", "metrics") or not _safe_key(name):
        return None
    return _PARAMS.extend((name,))  # any other attribute is the param of that name


def _sequence(key: tuple[str, str], what: str) -> Sql:
    return _cat(f"(SELECT {what} FROM sequences s WHERE s.hash = runs.hash AND s.name = ", _arg(key[0]),
                " AND s.context = ", _arg(key[1]), ")")


# Last values are JSON; non-finite ones are the strings "NaN", "Infinity", "-Infinity" there.
_LAST_TYPE = ("CASE WHEN s.last_value IS NULL THEN 'null' WHEN json_extract(s.last_value, '$') IN "
              "('NaN', 'Infinity', '-Infinity') THEN 'real' ELSE json_type(s.last_value) END")
_LAST = ("CASE json_extract(s.last_value, '$') WHEN 'Infinity' THEN 1e999 WHEN '-Infinity' THEN -1e999 "
         "WHEN 'NaN' THEN NULL ELSE json_extract(s.last_value, '$') END")  # NaN: NULL, equal to nothing
_SEQUENCE_ATTRS = {"last": (_LAST_TYPE, _LAST), "last_step": ("'integer'", "s.last_step"),
                   "count": ("'integer'", "s.points")}


def _sequence_key(node: ast.AST) -> tuple[str, str] | None:
    """``run.metrics[name]`` or ``run.metrics[name, {context}]``: (name, context JSON)."""
    if not (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
            and _is_run(node.value.value) and node.value.attr == "metrics"):
        return None
    key = _literal(node.slice)
    name, context = (key, {}) if isinstance(key, str) else key if isinstance(key, tuple) and len(key) == 2 \
        else (None, None)
    if not (isinstance(name, str) and _text(name) and isinstance(context, dict)):
        return None
    try:
        return name, context_key(context).decode()
    except (TypeError, ValueError):  # not a context that could have been tracked
        return None


def _resolve(node: ast.AST) -> _Slot | _Json | None:
    if isinstance(node, ast.Attribute):
        if _is_run(node.value):
            return _run_attr(node.attr)
        key = _sequence_key(node.value)
        if key is not None:
            kind, value = _SEQUENCE_ATTRS.get(node.attr, (None, None))
            return None if kind is None or value is None else _Slot(
                (_Variant(_sequence(key, kind), _sequence(key, value), parsed=node.attr == "last"),))
        parent = _resolve(node.value)
        # An attribute of a dict is its key; of anything else, missing (as in a JSON path).
        return parent.extend((node.attr,)) if isinstance(parent, _Json) and _safe_key(node.attr) else None
    if isinstance(node, ast.Subscript):
        key = _sequence_key(node)
        if key is not None:
            return _Slot((_Variant(_sequence(key, "'seq'"), Sql("NULL")),))
        keys = _keys(node.slice)
        parent = _PARAMS if _is_run(node.value) else _resolve(node.value)
        return parent.extend(keys) if keys is not None and isinstance(parent, _Json) else None
    return None


def _slot(node: ast.AST) -> _Slot | None:
    found = _resolve(node)
    return found.slot() if isinstance(found, _Json) else found


def _keys(node: ast.AST) -> tuple[str | int, ...] | None:
    """A subscript as JSON path keys: a str, an int, or a tuple (a path into dicts)."""
    key = _literal(node)
    # A tuple is a path only into a dict: its first key must be a str, which is missing from
    # anything else as in a JSON path (``x[0, 1]`` of a list is missing in Python).
    parts = key if isinstance(key, tuple) and key and isinstance(key[0], str) else (key,)
    if all(_safe_key(p) or (type(p) is int and abs(p) < 2**31) for p in parts):
        return parts
    return None


def _is_run(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "run"


def _text(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:  # lone surrogates: SQLite cannot bind them, and no value has them
        return False
    return True


def _safe_key(key: Any) -> bool:
    # SQLite matches a path's key against the key as JSON writes it: keys JSON escapes ('"',
    # '\\', control characters) cannot be named in a path.
    return isinstance(key, str) and _text(key) and not any(c in '"\\' or c < " " for c in key)


_NO = object()  # not a literal


def _literal(node: ast.AST) -> Any:
    """The value of a constant expression (constants, signs, lists, tuples, dicts), or _NO."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand)
        if not isinstance(value, (int, float)):
            return _NO
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(e) for e in node.elts]
    elif isinstance(node, ast.Dict) and None not in node.keys:
        items = [_literal(e) for pair in zip(node.keys, node.values) for e in pair if e is not None]
    else:
        return _NO
    if any(i is _NO for i in items):
        return _NO
    if isinstance(node, ast.Dict):
        try:
            return dict(zip(items[::2], items[1::2]))
        except TypeError:  # an unhashable key
            return _NO
    return items if isinstance(node, ast.List) else tuple(items)


def _scalar(value: Any) -> bool:
    """A constant SQLite binds and compares as Python does (no NaN, ints within 64 bits)."""
    if value is None or isinstance(value, (bool, float)):
        return value == value
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, str) and _text(value)


# --- tests of a present value, as Python's comparisons do them ---------------------------------------
_SYMBOLS: dict[type[ast.cmpop], str] = {ast.Eq: "=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
# For a parsed real near the constant, per operator: (maybe, sure) as (operator, which end of
# the band around the constant: 0 low, 1 high), or None for FALSE.
_NEAR: dict[type[ast.cmpop], tuple[tuple[str, int], tuple[str, int] | None]] = {
    ast.Eq: (("BETWEEN", 0), None), ast.Lt: (("<", 1), ("<", 0)), ast.LtE: (("<=", 1), ("<", 0)),
    ast.Gt: ((">", 0), (">", 1)), ast.GtE: ((">=", 0), (">", 1)),
}


def _compare_present(v: _Variant, op: type[ast.cmpop], c: Any) -> Cond:
    """``value <op> c`` (==, <, <=, >, >=); values of types that cannot be ordered: False."""
    if c is None:
        return _exact(_cat("coalesce(", v.type, " = 'null', 0)") if op is ast.Eq else FALSE)
    sym = _SYMBOLS[op]
    if isinstance(c, str):
        return _exact(_cat("coalesce(", v.type, " = 'text' AND ", v.value, f" {sym} ", _arg(c), ", 0)"))
    number = int(c) if isinstance(c, bool) else c  # True is 1 in Python as in SQLite's JSON
    kinds = "('integer', 'true', 'false')" if v.parsed else "('integer', 'real', 'true', 'false')"
    exact = _cat("coalesce(", v.type, f" IN {kinds} AND ", v.value, f" {sym} ", _arg(number), ", 0)")
    if not v.parsed:
        return _exact(exact)
    x = float(number)
    d = max(abs(x) * _REL, _ABS) if abs(x) != float("inf") else 0.0
    bounds = [FALSE if near is None else _cat(
        "coalesce(", v.type, " = 'real' AND ", v.value,
        _cat(" BETWEEN ", _arg(x - d), " AND ", _arg(x + d)) if near[0] == "BETWEEN"
        else _cat(f" {near[0]} ", _arg(x + d if near[1] else x - d)), ", 0)") for near in _NEAR[op]]
    return Cond(_or(exact, bounds[0]), _or(exact, bounds[1]))


def _truthy_present(v: _Variant) -> Cond:
    def case(real: Sql) -> Sql:
        return _cat("coalesce(CASE ", v.type, " WHEN 'true' THEN 1 WHEN 'integer' THEN ", v.value,
                    " != 0 WHEN 'real' THEN ", real, " WHEN 'text' THEN ", v.value, " != '' WHEN 'array' THEN ",
                    v.value, " != '[]' WHEN 'object' THEN ", v.value, " != '{}' WHEN 'seq' THEN 1 ",
                    "WHEN 'blob' THEN length(", v.value, ") > 0 ELSE 0 END, 0)")

    sure = case(_cat("coalesce(", v.value, " != 0, 1)"))  # NaN (NULL here) is true
    return Cond(case(TRUE), sure) if v.parsed else _exact(sure)  # a tiny real may parse to 0


def _substring(v: _Variant, needle: Sql, haystack: Sql) -> Cond:
    # On UTF-8 bytes, which agree with str's, and which SQLite's functions do not cut at a NUL.
    return _exact(_cat("coalesce(", v.type, " = 'text' AND instr(", haystack, ", ", needle, ") > 0, 0)"))


def _within(v: _Variant, kind: str, test: Sql) -> Sql:
    # json_each over a scalar yields the scalar itself: only a list's items, or a dict's keys.
    return _cat("(coalesce(", v.type, f" = '{kind}', 0) AND EXISTS (SELECT 1 FROM ", v.walk or FALSE,
                " j WHERE ", test, "))")


def _contains_present(v: _Variant, c: Any) -> Cond:
    """``c in value``: a substring of a str, an item of a list, a key of a dict."""
    blob = _cat("CAST(", v.value, " AS BLOB)")
    parts = [_substring(v, _arg(c.encode()), blob)] if isinstance(c, str) else []
    if v.walk is not None:
        item = _compare_present(_Variant(Sql("j.type"), Sql("j.value"), v.parsed), ast.Eq, c)
        parts.append(Cond(_within(v, "array", item.maybe), _within(v, "array", item.sure)))
        if isinstance(c, str):  # a dict's keys are str: 1 is none of them
            parts.append(_exact(_within(v, "object", _cat("j.key = ", _arg(c)))))
    return _both(_or, parts)


def _member_present(v: _Variant, container: Any) -> Cond:
    """``value in container``: a substring of a str constant, or equal to an item of a list."""
    if isinstance(container, str):
        return _substring(v, _cat("CAST(", v.value, " AS BLOB)"), _arg(container.encode()))
    return _both(_or, [_compare_present(v, ast.Eq, item) for item in container])


def _affix_present(v: _Variant, affix: str, start: bool) -> Sql:
    """``value.startswith(affix)`` or ``endswith``, on UTF-8 bytes (see ``_substring``)."""
    data = affix.encode()
    if not data:
        return _cat("coalesce(", v.type, " = 'text', 0)")
    span = _cat("1, ", _arg(len(data))) if start else _arg(-len(data))
    cut = _cat("substr(CAST(", v.value, " AS BLOB), ", span, ")")
    return _cat("coalesce(", v.type, " = 'text' AND ", cut, " = ", _arg(data), ", 0)")


# --- the query's structure ---------------------------------------------------------------------------
def _leaf(slot: _Slot, present: Callable[[_Variant], Cond], missing: bool) -> Cond:
    """A test of a run's value, one of the slot's variants: ``present`` when the value is there,
    ``missing`` what Python gives when it is missing."""
    conds = []
    for variant in slot.variants:
        cond = present(variant)
        if missing:
            gone = _cat(variant.type, " IS NULL")
            cond = Cond(_or(gone, cond.maybe), _or(gone, cond.sure))
        conds.append(cond)
    return Cond(_or(*(c.maybe for c in conds), slot.doubt), _and(*(c.sure for c in conds), _not(slot.doubt)))


_FLIP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.Eq, ast.NotEq: ast.NotEq, ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE,
    ast.Is: ast.Is, ast.IsNot: ast.IsNot,
}
_NEGATED: dict[type[ast.cmpop], type[ast.cmpop]] = {ast.NotEq: ast.Eq, ast.NotIn: ast.In, ast.IsNot: ast.Is}


def _compare(left: ast.AST, op: ast.cmpop, right: ast.AST) -> Cond:
    slot, c = _slot(left), _literal(right)
    if slot is not None and c is not _NO:
        return _slot_op(slot, type(op), c)
    slot, c = _slot(right), _literal(left)
    if slot is None or c is _NO or (isinstance(op, (ast.In, ast.NotIn)) and not _scalar(c)):
        return UNKNOWN
    if isinstance(op, (ast.In, ast.NotIn)):
        cond = _leaf(slot, lambda v: _contains_present(v, c), missing=False)
        return cond if isinstance(op, ast.In) else cond.negate()
    return _slot_op(slot, _FLIP[type(op)], c)


def _slot_op(slot: _Slot, op: type[ast.cmpop], c: Any) -> Cond:
    """``value <op> c``, the run's value on the left."""
    if op in _NEGATED:  # Python's !=, not in and is not are the negations, missing values too
        return _slot_op(slot, _NEGATED[op], c).negate()
    if op is ast.In:
        if not ((isinstance(c, str) and _text(c)) or (isinstance(c, (list, tuple)) and all(map(_scalar, c)))):
            return UNKNOWN
        return _leaf(slot, lambda v: _member_present(v, c), missing=False)
    if not _scalar(c) or (op is ast.Is and not (c is None or isinstance(c, bool))):
        return UNKNOWN
    if op is ast.Is:  # None, True and False are singletons
        kind = "null" if c is None else str(c).lower()
        return _leaf(slot, lambda v: _exact(_cat("coalesce(", v.type, f" = '{kind}', 0)")), missing=c is None)
    return _leaf(slot, lambda v: _compare_present(v, op, c), missing=op is ast.Eq and c is None)


def _call(node: ast.Call) -> Cond:
    func = node.func
    if not (isinstance(func, ast.Attribute) and func.attr in ("startswith", "endswith")
            and len(node.args) == 1 and not node.keywords):
        return UNKNOWN
    slot, arg = _slot(func.value), _literal(node.args[0])
    affixes = [arg] if isinstance(arg, str) else list(arg) if isinstance(arg, tuple) else None
    if slot is None or affixes is None or not all(isinstance(a, str) and _text(a) for a in affixes):
        return UNKNOWN
    start = func.attr == "startswith"
    return _leaf(slot, lambda v: _exact(_or(*(_affix_present(v, a, start) for a in affixes))), missing=False)


def _truth(node: ast.AST) -> Cond:
    """The bounds of ``bool(node)``."""
    if isinstance(node, ast.BoolOp):
        return _both(_and if isinstance(node.op, ast.And) else _or, [_truth(v) for v in node.values])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _truth(node.operand).negate()
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        return _both(_and, [_compare(operands[i], op, operands[i + 1]) for i, op in enumerate(node.ops)])
    if isinstance(node, ast.IfExp):
        test, body, orelse = _truth(node.test), _truth(node.body), _truth(node.orelse)
        return Cond(_or(_and(test.maybe, body.maybe), _and(_not(test.sure), orelse.maybe)),
                    _or(_and(test.sure, body.sure), _and(_not(test.maybe), orelse.sure)))
    if isinstance(node, ast.Call):
        return _call(node)
    value = _literal(node)
    if value is not _NO:
        return _exact(TRUE if value else FALSE)
    slot = _slot(node)
    return UNKNOWN if slot is None else _leaf(slot, _truthy_present, missing=False)
