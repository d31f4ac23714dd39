"""AimQL parsing: a Python expression, checked against an allow-list before anything runs.

The text is parsed with ``ast`` (never ``eval``/``exec``) and every node is checked: only
expressions (no lambdas, comprehensions, f-strings, walrus or starred), no name but the
query's variables and a few functions, no attribute that starts with ``_``, calls only to
allow-listed functions and methods, and bounded size, depth and constants. What passes is a
``Query``: its text and its tree.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from aim.errors import QueryError

MAX_CHARS = 10_000  # a query is typed or generated, never a data dump
MAX_NODES = 2_000
MAX_DEPTH = 60
MAX_CONSTANT_CHARS = 10_000

# Functions a query may call by name, and the module-like names whose members it may call.
FUNCTIONS = frozenset({"len", "abs", "min", "max", "round", "int", "float", "str", "bool", "datetime",
                       "date"})
MODULES = {"re": frozenset({"match", "search", "fullmatch"})}
# Methods a query may call on a value, by the value's type (checked again when it runs).
STR_METHODS = frozenset({"startswith", "endswith", "lower", "upper", "casefold", "strip", "lstrip",
                         "rstrip", "title", "capitalize", "isdigit", "isalpha", "isalnum", "find",
                         "count", "split"})
DATETIME_METHODS = frozenset({"strftime", "isoformat", "timestamp", "date", "weekday", "isoweekday"})
DICT_METHODS = frozenset({"get", "keys", "values", "items"})
LIST_METHODS = frozenset({"count", "index"})
METHODS = STR_METHODS | DATETIME_METHODS | DICT_METHODS | LIST_METHODS

_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_COMPARISONS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot)
_PLAIN = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
          ast.BinOp, ast.Compare, ast.IfExp, ast.Subscript, ast.Slice, ast.Tuple, ast.List, ast.Dict,
          ast.Load, *_OPERATORS, *_COMPARISONS)


@dataclass(frozen=True)
class Query:
    """A checked query: its text and its tree."""

    text: str
    tree: ast.Expression

    @property
    def empty(self) -> bool:
        """True for the empty query, which matches everything."""
        return not self.text.strip()


def error(node: ast.AST | None, message: str) -> QueryError:
    """A ``QueryError`` naming the column of ``node`` (1-based)."""
    col = getattr(node, "col_offset", None)
    where = f" at column {col + 1}" if isinstance(col, int) else ""
    return QueryError(f"invalid query{where}: {message}")


def parse(text: str, variables: frozenset[str] = frozenset({"run"})) -> Query:
    """Check ``text`` and return a ``Query``; raise ``QueryError`` naming what is wrong and where.

    ``variables`` are the names the query may read (``run`` for run queries; ``metric`` and
    ``run`` for metric queries). The empty query matches everything.
    """
    if not isinstance(text, str):
        raise QueryError(f"a query is a str, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise QueryError(f"invalid query: {len(text):,} characters, more than the {MAX_CHARS:,} allowed")
    if not text.strip():
        return Query(text, ast.Expression(body=ast.Constant(True)))
    try:
        # In parentheses, on lines of their own: a query typed over several lines parses, its
        # string constants stay as typed, and the columns of its first line stay its own.
        tree = ast.parse(f"(\n{text}\n)", mode="eval")
    except SyntaxError as exc:
        raise QueryError(f"invalid query at {_position(text, exc)}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError):  # null bytes, absurd nesting
        raise QueryError("invalid query: it cannot be parsed") from None
    _Checker(variables).check(tree, 0)
    return Query(text, tree)


def _position(text: str, exc: SyntaxError) -> str:
    """Where in ``text`` a syntax error is (it was parsed one line down, in parentheses)."""
    lines = text.split("\n")
    line = (exc.lineno or 0) - 1
    if not 1 <= line <= len(lines):  # at the closing parenthesis: the query ended too soon
        line, column = len(lines), len(lines[-1]) + 1
    else:
        column = exc.offset or 1
    return f"column {column}" if len(lines) == 1 else f"line {line}, column {column}"


class _Checker:
    def __init__(self, variables: frozenset[str]) -> None:
        self.variables = variables
        self.nodes = 0

    def check(self, node: ast.AST, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise error(node, f"more than {MAX_NODES} parts: split it, or filter in two steps")
        if depth > MAX_DEPTH:
            raise error(node, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, ast.Constant):
            self._constant(node)
        elif isinstance(node, ast.Name):
            self._name(node)
        elif isinstance(node, ast.Attribute):
            self._attribute(node)
        elif isinstance(node, ast.Call):
            self._call(node, depth)
            return  # its parts are checked there
        elif isinstance(node, ast.Dict) and any(k is None for k in node.keys):
            raise error(node, "unpacking (**) is not allowed")
        elif not isinstance(node, _PLAIN):
            raise error(node, f"{_describe(node)} is not allowed in a query")
        for child in ast.iter_child_nodes(node):
            self.check(child, depth + 1)

    def _constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, (bytes, complex)) or value is Ellipsis:
            raise error(node, f"{type(value).__name__} constants are not allowed")
        if isinstance(value, str) and len(value) > MAX_CONSTANT_CHARS:
            raise error(node, f"a string of {len(value):,} characters (at most {MAX_CONSTANT_CHARS:,})")

    def _name(self, node: ast.Name) -> None:
        if node.id not in self.variables and node.id not in FUNCTIONS and node.id not in MODULES:
            known = ", ".join(sorted(self.variables))
            raise error(node, f"unknown name {node.id!r} (a query reads {known})")

    def _attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            raise error(node, f"attribute {node.attr!r} is not allowed (no names starting with '_')")
        if isinstance(node.value, ast.Name) and node.value.id in MODULES:
            raise error(node, f"{node.value.id}.{node.attr} can only be called")

    def _call(self, node: ast.Call, depth: int) -> None:
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise error(node, "*args and **kwargs are not allowed")
        func = node.func
        module_call = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
            and func.value.id in MODULES
        if isinstance(func, ast.Attribute) and not module_call:
            self.check(func.value, depth + 1)  # the receiver first: its error is the first one
        elif not isinstance(func, (ast.Name, ast.Attribute)):
            self.check(func, depth + 1)  # a lambda, say: named as what it is
        if isinstance(func, ast.Name):
            if func.id not in FUNCTIONS:
                raise error(node, f"calling {func.id!r} is not allowed")
            self.nodes += 1
        elif isinstance(func, ast.Attribute):
            if func.attr.startswith("_"):
                raise error(func, f"attribute {func.attr!r} is not allowed (no names starting with '_')")
            if isinstance(func.value, ast.Name) and func.value.id in MODULES:
                if func.attr not in MODULES[func.value.id]:
                    raise error(func, f"{func.value.id}.{func.attr} is not allowed")
                self.nodes += 1
            elif func.attr not in METHODS:
                raise error(func, f"calling the method {func.attr!r} is not allowed")
        else:
            raise error(node, "only named functions and methods can be called")
        for child in [*node.args, *(k.value for k in node.keywords)]:
            self.check(child, depth + 1)


def _describe(node: ast.AST) -> str:
    names = {ast.Lambda: "a lambda", ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
             ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator",
             ast.JoinedStr: "an f-string", ast.NamedExpr: "an assignment (:=)", ast.Starred: "unpacking",
             ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Set: "a set display"}
    return names.get(type(node), type(node).__name__)
