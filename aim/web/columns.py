"""The columns of the runs table: what a user may show and sort by, as data.

A column is named by a JSON array, so that it survives a URL and any key a param may have:
``["attr", "created"]``, ``["param", "hparams", "lr"]``, ``["metric", "loss", {"subset": "train"}]``.
Each column knows its SQL ordering (the index sorts, never Python: a page of 100k runs is one
query) and how to read its value from a decoded row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from aim.core.encoding import context_key
from aim.core.query.sql import Sql, metric_last_sql, param_sql
from aim.core.values import plain_context

# Run attributes: the SQL each sorts by. ``duration`` of a live run counts up to now.
ATTRS: dict[str, str] = {
    "hash": "runs.hash",
    "name": "runs.name",
    "experiment": "runs.experiment",
    "description": "runs.description",
    "status": "runs.status",
    "archived": "runs.archived",
    "tags": "runs.tags",
    "created": "runs.creation_time",
    "ended": "runs.end_time",
    "duration": "(coalesce(runs.end_time, ?) - runs.creation_time)",
}
MAX_PATH = 32


class ColumnError(ValueError):
    """A column (or sort) the runs table cannot have; the message says why."""


@dataclass(frozen=True)
class Column:
    """One column of the runs table."""

    kind: str  # "attr" | "param" | "metric"
    key: tuple[str, ...]  # the attribute; the param's path; (metric name, context key)

    @classmethod
    def parse(cls, spec: Any) -> Column:
        """A column from its JSON form (a list, or its text); ``ColumnError`` if malformed."""
        if isinstance(spec, str):
            try:
                spec = orjson.loads(spec)
            except orjson.JSONDecodeError:
                raise ColumnError(f"a column is a JSON array, got {spec[:80]!r}") from None
        if not isinstance(spec, list) or not spec or spec[0] not in ("attr", "param", "metric"):
            raise ColumnError('a column is ["attr", name], ["param", key, ...] or ["metric", name, context]')
        kind, rest = spec[0], spec[1:]
        if kind == "attr":
            if len(rest) != 1 or rest[0] not in ATTRS:
                raise ColumnError(f"no run attribute {rest!r}: one of {', '.join(ATTRS)}")
            return cls(kind, (rest[0],))
        if kind == "param":
            if not rest or len(rest) > MAX_PATH or not all(isinstance(k, str) and k for k in rest):
                raise ColumnError(f"a param column names its path as non-empty strings, got {rest!r}")
            return cls(kind, tuple(rest))
        if len(rest) not in (1, 2) or not isinstance(rest[0], str) or not rest[0]:
            raise ColumnError(f"a metric column is a name and a context, got {rest!r}")
        try:
            context = plain_context(rest[1] if len(rest) == 2 else {})
        except (TypeError, ValueError) as exc:
            raise ColumnError(f"bad metric context: {exc}") from None
        return cls(kind, (rest[0], context_key(context).decode()))

    def spec(self) -> list[Any]:
        """The JSON form, as ``parse`` takes it."""
        if self.kind == "metric":
            return ["metric", self.key[0], orjson.loads(self.key[1])]
        return [self.kind, *self.key]

    def order(self, descending: bool) -> tuple[str, tuple[Any, ...]]:
        """``ORDER BY`` text ending in the run hash (a unique key), and its arguments."""
        way = " DESC" if descending else ""
        if self.kind == "attr":
            sql = Sql(ATTRS[self.key[0]], (time.time(),) if self.key[0] == "duration" else ())
        elif self.kind == "param":
            sql = param_sql(self.key)
        else:
            sql = metric_last_sql(self.key[0], self.key[1])
        if self.key == ("created",):
            return f"runs.creation_time{way}, runs.hash{way}", ()  # the index's order: no sort
        # NULLs (a param a run lacks) sort last whichever way, as every table user expects
        # (NULLS LAST: SQLite 3.30; `expr IS NULL, expr` computed each value twice).
        return f"{sql.text}{way} NULLS LAST, runs.creation_time{way}, runs.hash{way}", sql.args


def param_at(params: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in a param tree (JSON form), or None."""
    node = params
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def last_value(raw: str | None) -> Any:
    """A sequence's last value from its index JSON, in JSON form (NaN as ``"NaN"``)."""
    return None if raw is None else orjson.loads(raw)

