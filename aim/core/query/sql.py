"""AimQL to SQL: what the index's SQLite can decide about a query, as two bounds.

A query compiles to two conditions over the index's ``runs`` table (named ``runs``):

* ``where`` holds for every run the query matches (and maybe for others): a superset;
* ``certain`` holds only for runs the query surely matches: a subset.

The caller selects the rows ``where`` holds, and evaluates the query in Python (``evaluate``)
over those ``certain`` does not hold for. Each part of the query compiles to such a pair, so
``not`` just swaps them and needs no exactness, and what SQL cannot decide is (TRUE, FALSE).
Every constant of the query is a bound argument: none is ever formatted into the SQL text.

Compiled: ``run.hash/name/experiment/description/creation_time/end_time/archived/deleted``,
``run.tags``, params by path (``run.hparams.lr``, ``run["a.b", 0]``) through SQLite's JSON
functions, ``run.metrics[name, ctx].last/.last_step/.count``, compared with constants (``==``,
``!=``, ``<``..., ``in``, ``not in``, ``is None``), ``startswith``/``endswith``, truthiness,
``and``/``or``/``not``/``x if c else y``. Only a superset (Python decides the rest): the derived
``status``/``active`` of runs recorded running or crashed (a lock probe decides), rows whose
params hold NaN, infinities, bytes or NUL characters, reals parsed from JSON near the constant,
indexes into a value that is a string. Left to Python: everything else (calls, arithmetic,
``created_at``, ``duration``, comparisons of two run values...).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aim.core import events as ev
from aim.core.encoding import context_key
from aim.core.query.parse import Query

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
MAX_ARGS = 30_000  # SQLite binds at most 32,766 values per statement
MAX_SQL_CHARS = 1_000_000
# A real parsed from JSON text by SQLite may differ in its last bits from Python's parse on a
# build whose conversion is not correctly rounded: within this band of a constant, SQL only
# says "maybe" and Python decides. (The 1e-300 covers subnormals.)
_REL, _ABS = 1e-9, 1e-300


@dataclass(frozen=True)
class Sql:
    """SQL text and the values bound to its ``?`` placeholders, in order."""

    text: str
    args: tuple[Any, ...] = ()


TRUE, FALSE = Sql("1"), Sql("0")


def _cat(*parts: str | Sql) -> Sql:
    text: list[str] = []
    args: list[Any] = []
    for part in parts:
        if isinstance(part, str):
            text.append(part)
        else:
            text.append(part.text)
            args.extend(part.args)
    return Sql("".join(text), tuple(args))


def _arg(value: Any) -> Sql:
    return Sql("?", (value,))


def _join(op: str, parts: tuple[Sql, ...], unit: Sql, zero: Sql) -> Sql:
    kept = [p for p in parts if p != unit]
    if zero in kept:
        return zero
    return _balanced(op, kept) if kept else unit


def _balanced(op: str, parts: list[Sql]) -> Sql:
    # A long `and` chain stays shallow: SQLite limits the depth of an expression.
    if len(parts) == 1:
        return parts[0]
    mid = len(parts) // 2
    return _cat("(", _balanced(op, parts[:mid]), f") {op} (", _balanced(op, parts[mid:]), ")")


def _and(*parts: Sql) -> Sql:
    return _join("AND", parts, TRUE, FALSE)


def _or(*parts: Sql) -> Sql:
    return _join("OR", parts, FALSE, TRUE)


def _not(part: Sql) -> Sql:
    return FALSE if part == TRUE else TRUE if part == FALSE else _cat("NOT (", part, ")")


@dataclass(frozen=True)
class Cond:
    """A condition as two SQL bounds: ``sure`` ⊆ where the query holds ⊆ ``maybe``.

    Both are two-valued (never NULL), so that ``NOT`` is exact on them.
    """

    maybe: Sql
    sure: Sql

    def negate(self) -> Cond:
        """The bounds of ``not`` this condition."""
        return Cond(_not(self.sure), _not(self.maybe))


UNKNOWN = Cond(TRUE, FALSE)  # what SQL cannot decide: keep every row, and let Python decide


def _exact(part: Sql) -> Cond:
    return Cond(part, part)


def _both(join: Callable[..., Sql], conds: list[Cond]) -> Cond:
    return Cond(join(*(c.maybe for c in conds)), join(*(c.sure for c in conds)))


@dataclass(frozen=True)
class CompiledQuery:
    """A query as SQL over ``runs``: the rows ``where`` selects are a superset of the matches,
    and those ``certain`` holds for are matches; ``exact`` when ``where`` alone decides."""

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
    size = len(cond.maybe.args) + len(cond.sure.args)
    if size > MAX_ARGS or len(cond.maybe.text) + len(cond.sure.text) > MAX_SQL_CHARS:
        cond = UNKNOWN  # too big for one statement: Python evaluates every run
    if cond.maybe == cond.sure:
        return CompiledQuery(cond.maybe.text, cond.maybe.args, "1", (), True)
    return CompiledQuery(cond.maybe.text, cond.maybe.args, cond.sure.text, cond.sure.args, False)


# --- what a run's value is in SQL ----------------------------------------------------------------
@dataclass(frozen=True)
class _Variant:
    """One value a run's slot may have: its JSON type name in SQL (NULL: missing) and value."""

    type: Sql
    value: Sql
    parsed: bool = False  # its reals are parsed from JSON text by SQLite (see _REL)
    walk: Sql | None = None  # json_each over it, when it is a JSON value (containers)


@dataclass(frozen=True)
class _Slot:
    """A run's value: one of its variants; ``doubt`` holds where SQL's view may be wrong."""

    variants: tuple[_Variant, ...]
    doubt: Sql = FALSE


@dataclass(frozen=True)
class _Json:
    """A path into a JSON column, as a query walks it."""

    doc: str
    path: tuple[str | int, ...]
    doubt: Sql

    def extend(self, keys: tuple[str | int, ...]) -> _Json:
        return _Json(self.doc, self.path + keys, self.doubt)

    def slot(self) -> _Slot:
        path = _arg(_json_path(self.path))
        doubts = [self.doubt]
        for i, key in enumerate(self.path):
            if isinstance(key, int):  # Python indexes a str ("abc"[0]); a JSON path does not
                parent = _arg(_json_path(self.path[:i]))
                doubts.append(_cat(f"coalesce(json_type({self.doc}, ", parent, ") = 'text', 0)"))
        variant = _Variant(_cat(f"json_type({self.doc}, ", path, ")"),
                           _cat(f"json_extract({self.doc}, ", path, ")"), parsed=True,
                           walk=_cat(f"json_each({self.doc}, ", path, ")"))
        return _Slot((variant,), _or(*doubts))


def _json_path(path: tuple[str | int, ...]) -> str:
    parts = ["$"]
    for key in path:
        parts.append(f'."{key}"' if isinstance(key, str) else f"[{key}]" if key >= 0 else f"[#{key}]")
    return "".join(parts)


# Params in the index are JSON: NaN, infinities and bytes are strings there (a row with any has
# params_marks), and SQLite's JSON functions cut a string at an escaped NUL. Python decides those.
_PARAMS = _Json("runs.params", (), Sql("(runs.params_marks != '' OR instr(runs.params, '\\u0000') > 0)"))
_TAGS = _Json("runs.tags", (), Sql("instr(runs.tags, '\\u0000') > 0"))
_LIVE = f"runs.status IN ('{ev.STATUS_RUNNING}', '{ev.STATUS_CRASHED}')"
_TYPE = "CASE typeof(runs.{0}) WHEN 'null' THEN {1} ELSE typeof(runs.{0}) END"
_NOT_COMPILED = frozenset({"created_at", "finalized_at", "duration", "metrics"})


def _run_attr(name: str) -> _Slot | _Json | None:
    """``run.<name>`` as RunView answers it."""
    if name in ("hash", "experiment", "creation_time", "end_time"):  # None reads as missing
        return _Slot((_Variant(Sql(_TYPE.format(name, "NULL")), Sql(f"runs.{name}")),))
    if name in ("name", "description"):  # None reads as None
        return _Slot((_Variant(Sql(_TYPE.format(name, "'null'")), Sql(f"runs.{name}")),))
    if name in ("archived", "deleted"):
        return _Slot((_Variant(Sql(f"CASE WHEN runs.{name} THEN 'true' ELSE 'false' END"),
                               Sql(f"(runs.{name} != 0)")),))
    # A run recorded running or crashed is running while a live writer holds its lock, else
    # crashed: SQL cannot probe the lock, so it may be either.
    if name == "status":
        return _Slot(tuple(_Variant(Sql("'text'"), Sql(f"CASE WHEN {_LIVE} THEN '{s}' ELSE runs.status END"))
                           for s in (ev.STATUS_RUNNING, ev.STATUS_CRASHED)))
    if name == "active":
        return _Slot((_Variant(Sql(f"CASE WHEN {_LIVE} THEN 'true' ELSE 'false' END"), Sql(f"({_LIVE})")),
                      _Variant(Sql("'false'"), Sql("0"))))
    if name == "tags":
        return _TAGS
    if name == "params":
        return _PARAMS
    if name in _NOT_COMPILED or not _safe_key(name):
        return None
    return _PARAMS.extend((name,))  # any other attribute is the param of that name


def _sequence(key: tuple[str, str], what: str) -> Sql:
    return _cat(f"(SELECT {what} FROM sequences s WHERE s.hash = runs.hash AND s.name = ", _arg(key[0]),
                " AND s.context = ", _arg(key[1]), ")")


# Last values are JSON; non-finite ones are the strings "NaN", "Infinity", "-Infinity" there.
_NONFINITE = "('NaN', 'Infinity', '-Infinity')"
_LAST_TYPE = (f"CASE WHEN s.last_value IS NULL THEN 'null' WHEN json_extract(s.last_value, '$') IN "
              f"{_NONFINITE} THEN 'real' ELSE json_type(s.last_value) END")
_LAST = ("CASE json_extract(s.last_value, '$') WHEN 'Infinity' THEN 1e999 WHEN '-Infinity' THEN -1e999 "
         "WHEN 'NaN' THEN NULL ELSE json_extract(s.last_value, '$') END")  # NaN: NULL, never equal


def _metric(key: tuple[str, str], attr: str) -> _Slot | None:
    if attr == "last":
        return _Slot((_Variant(_sequence(key, _LAST_TYPE), _sequence(key, _LAST), parsed=True),))
    column = {"last_step": "s.last_step", "count": "s.points"}.get(attr)
    if column is None:
        return None
    return _Slot((_Variant(_sequence(key, "'integer'"), _sequence(key, column)),))


def _sequence_key(node: ast.AST) -> tuple[str, str] | None:
    """``run.metrics[name]`` or ``run.metrics[name, {context}]``: (name, context JSON)."""
    if not (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
            and _is_run(node.value.value) and node.value.attr == "metrics"):
        return None
    key = _literal(node.slice)
    context: dict[str, Any]
    if isinstance(key, str):
        name, context = key, {}
    elif isinstance(key, tuple) and len(key) == 2 and isinstance(key[0], str) and isinstance(key[1], dict):
        name, context = key
    else:
        return None
    try:
        return (name, context_key(context).decode()) if _text(name) else None
    except (TypeError, ValueError):  # not a context that could have been tracked
        return None


def _resolve(node: ast.AST) -> _Slot | _Json | None:
    if isinstance(node, ast.Attribute):
        if _is_run(node.value):
            return _run_attr(node.attr)
        key = _sequence_key(node.value)
        if key is not None:
            return _metric(key, node.attr)
        parent = _resolve(node.value)
        # An attribute of a dict is its key; of anything else, missing (as a JSON path says).
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
    """A subscript as JSON path keys: a str, an int, or a tuple of them (a path into dicts)."""
    key = _literal(node)
    # A tuple is a path only when read from a dict: its first key must be a str, which is
    # missing from anything else, as in a JSON path. ``x[0, 1]`` on a list is missing in Python.
    parts = key if isinstance(key, tuple) and key and isinstance(key[0], str) else (key,)
    for part in parts:
        if isinstance(part, bool) or not (_safe_key(part) or (isinstance(part, int) and abs(part) < 2**31)):
            return None
    return parts


def _is_run(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "run"


def _text(value: Any) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:  # lone surrogates: SQLite cannot bind them, and no value has them
        return False
    return True


def _safe_key(key: Any) -> bool:
    # SQLite compares a path's key with the key's JSON text as written: keys JSON escapes
    # ('"', '\\', control characters) cannot be named in a path.
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
        if any(i is _NO for i in items):
            return _NO
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        keys = [_NO if k is None else _literal(k) for k in node.keys]
        values = [_literal(v) for v in node.values]
        if any(x is _NO for x in keys + values):
            return _NO
        try:
            return dict(zip(keys, values))
        except TypeError:  # an unhashable key
            return _NO
    return _NO


def _scalar(value: Any) -> bool:
    """A constant SQLite can bind and compare as Python does."""
    if value is None or isinstance(value, (bool, float)):
        return value == value  # not NaN
    if isinstance(value, int):
        return _INT64_MIN <= value <= _INT64_MAX
    return isinstance(value, str) and _text(value)


# --- conditions on a present value (each compiles what Python's comparison does) -----------------
_SYMBOLS: dict[type[ast.cmpop], str] = {ast.Eq: "=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
# Near a constant, a real parsed by SQLite may be on either side of it: per operator, the
# (maybe, sure) tests as (operator, which end of the band around the constant: 0 low, 1 high).
_NEAR: dict[type[ast.cmpop], tuple[tuple[str, int], tuple[str, int] | None]] = {
    ast.Eq: (("BETWEEN", 0), None), ast.Lt: (("<", 1), ("<", 0)), ast.LtE: (("<=", 1), ("<", 0)),
    ast.Gt: ((">", 0), (">", 1)), ast.GtE: ((">=", 0), (">", 1)),
}


def _compare_present(v: _Variant, op: type[ast.cmpop], c: Any) -> Cond:
    """``value <op> c`` (==, <, <=, >, >=) for a present value; unorderable types: False."""
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
    d = 0.0 if x in (float("inf"), float("-inf")) else max(abs(x) * _REL, _ABS)
    band = (x - d, x + d)
    bounds = []
    for near in _NEAR[op]:
        if near is None:
            bounds.append(FALSE)
            continue
        cmp, end = near
        test = _cat(" BETWEEN ", _arg(band[0]), " AND ", _arg(band[1])) if cmp == "BETWEEN" else \
            _cat(f" {cmp} ", _arg(band[end]))
        bounds.append(_cat("coalesce(", v.type, " = 'real' AND ", v.value, test, ", 0)"))
    return Cond(_or(exact, bounds[0]), _or(exact, bounds[1]))


def _truthy_present(v: _Variant) -> Cond:
    def case(real: Sql) -> Sql:
        return _cat("coalesce(CASE ", v.type, " WHEN 'true' THEN 1 WHEN 'integer' THEN ", v.value,
                    " != 0 WHEN 'real' THEN ", real, " WHEN 'text' THEN ", v.value, " != '' WHEN 'array' THEN ",
                    v.value, " != '[]' WHEN 'object' THEN ", v.value, " != '{}' WHEN 'seq' THEN 1 ",
                    "WHEN 'blob' THEN length(", v.value, ") > 0 ELSE 0 END, 0)")

    sure = case(_cat("coalesce(", v.value, " != 0, 1)"))  # NaN (NULL here) is true
    return Cond(case(TRUE), sure) if v.parsed else _exact(sure)  # a tiny real may parse to 0


def _contains_present(v: _Variant, c: Any) -> Cond:
    """``c in value``: a substring of a str, an element of a list, a key of a dict."""
    parts = []
    if isinstance(c, str):  # on UTF-8 bytes, which agree with str's and are not cut at a NUL
        parts.append(_exact(_cat("coalesce(", v.type, " = 'text' AND instr(CAST(", v.value, " AS BLOB), ",
                                 _arg(c.encode()), ") > 0, 0)")))
    if v.walk is not None:
        element = _compare_present(_Variant(Sql("j.type"), Sql("j.value"), v.parsed), ast.Eq, c)
        parts.append(Cond(_within(v, "array", element.maybe), _within(v, "array", element.sure)))
        if isinstance(c, str):  # a dict's keys are str: 1 is none of them
            parts.append(_exact(_within(v, "object", _cat("j.key = ", _arg(c)))))
    return _both(_or, parts)


def _within(v: _Variant, kind: str, test: Sql) -> Sql:
    # json_each over a scalar yields the scalar itself: only a list's items, or a dict's keys.
    return _cat("(coalesce(", v.type, f" = '{kind}', 0) AND EXISTS (SELECT 1 FROM ", v.walk or FALSE,
                " j WHERE ", test, "))")


def _member_present(v: _Variant, container: Any) -> Cond:
    """``value in container``: a substring of a str constant, or equal to an item of a list."""
    if isinstance(container, str):
        return _exact(_cat("coalesce(", v.type, " = 'text' AND instr(", _arg(container.encode()),
                           ", CAST(", v.value, " AS BLOB)) > 0, 0)"))
    return _both(_or, [_compare_present(v, ast.Eq, item) for item in container])


def _affix_present(v: _Variant, affix: str, start: bool) -> Sql:
    """``value.startswith(affix)``/``endswith``: on UTF-8 bytes, which agree with str's, and
    which SQLite's ``substr`` does not cut at a NUL."""
    data = affix.encode()
    if not data:
        return _cat("coalesce(", v.type, " = 'text', 0)")
    where = _cat("1, ", _arg(len(data))) if start else _arg(-len(data))
    cut = _cat("substr(CAST(", v.value, " AS BLOB), ", where, ")")
    return _cat("coalesce(", v.type, " = 'text' AND ", cut, " = ", _arg(data), ", 0)")


# --- the query's structure ------------------------------------------------------------------------
def _leaf(slot: _Slot, present: Callable[[_Variant], Cond | None], missing: bool) -> Cond:
    """A test of a run's value: ``present`` for a present value, ``missing`` what Python
    gives for a missing one. The run's value is one of the slot's variants."""
    conds = []
    for variant in slot.variants:
        cond = present(variant)
        if cond is None:
            return UNKNOWN
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
    if slot is None or c is _NO:
        return UNKNOWN
    if isinstance(op, (ast.In, ast.NotIn)):
        if not _scalar(c):
            return UNKNOWN
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
    if not _scalar(c):
        return UNKNOWN
    if op is ast.Is:
        if c is None or isinstance(c, bool):
            kind = "null" if c is None else str(c).lower()
            return _leaf(slot, lambda v: _exact(_cat("coalesce(", v.type, f" = '{kind}', 0)")),
                         missing=c is None)
        return UNKNOWN
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
        conds, left = [], node.left
        for op, right in zip(node.ops, node.comparators):
            conds.append(_compare(left, op, right))
            left = right
        return _both(_and, conds)
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
