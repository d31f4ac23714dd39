"""What a query sees of a run and of its sequences: views over index rows, no IO.

``RunView`` answers ``run.<attr>`` with the run's own fields (Aim's names: ``hash``, ``name``,
``experiment``, ``tags``, ``archived``, ``active``, ``duration``, ``created_at``,
``finalized_at``, ...) and anything else with the param of that name, so ``run.hparams.lr``
and ``run["hparams", "lr"]`` both read params. ``run.metrics["loss", {"subset": "train"}]``
is a ``SequenceView`` with ``last``, ``last_step`` and ``count``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from typing import Any

from aim.core import events as ev
from aim.core.encoding import context_key
from aim.core.query.evaluate import MISSING, Queryable, item
from aim.errors import MetricValueError

# (name, context dict, points, last step, last value) per sequence, as the index keeps them.
SequenceInfo = tuple[str, dict[str, Any], int, int, Any]


class SequenceView(Queryable):
    """One sequence (metric name + context) as a query sees it."""

    def __init__(self, info: SequenceInfo) -> None:
        self.info = info

    def query_attr(self, name: str) -> Any:
        seq_name, context, points, last_step, last_value = self.info
        return {"name": seq_name, "context": context, "last": last_value, "last_step": last_step,
                "count": points}.get(name, MISSING)


class MetricsView(Queryable):
    """``run.metrics``: ``run.metrics["loss"]`` or ``run.metrics["loss", {"subset": "train"}]``."""

    def __init__(self, load: Callable[[], list[SequenceInfo]]) -> None:
        self._load = load
        self._by_key: dict[tuple[str, bytes], SequenceInfo] | None = None

    def query_item(self, key: Any) -> Any:
        if isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], Mapping):
            name, context = key
        elif isinstance(key, str):
            name, context = key, {}
        else:
            return MISSING
        if self._by_key is None:
            # The canonical context bytes the log and the index use: 1, 1.0 and true stay apart.
            self._by_key = {(i[0], context_key(i[1])): i for i in self._load()}
        try:
            found = self._by_key.get((name, context_key(context)))
        except MetricValueError:  # not a context that could have been tracked
            return MISSING
        return SequenceView(found) if found is not None else MISSING


class RunView(Queryable):
    """One run as a query sees it, from its index row (and its sequences, loaded on demand)."""

    def __init__(self, row: Mapping[str, Any], sequences: Callable[[], list[SequenceInfo]],
                 now: float) -> None:
        self.row = row
        self.params: dict[str, Any] = row.get("params") or {}
        self.metrics = MetricsView(sequences)
        self.now = now

    def query_attr(self, name: str) -> Any:
        row = self.row
        if name in ("hash", "name", "experiment", "description", "status", "creation_time", "end_time"):
            value = row.get(name)
            return MISSING if value is None and name not in ("name", "description") else value
        if name == "tags":
            return list(row.get("tags") or [])
        if name in ("archived", "deleted"):
            return bool(row.get(name))
        if name == "active":
            return row.get("status") == ev.STATUS_RUNNING
        if name == "created_at":
            return _datetime(row.get("creation_time"))
        if name == "finalized_at":
            return _datetime(row.get("end_time"))
        if name == "duration":
            start = row.get("creation_time")
            if start is None:
                return MISSING
            end = row.get("end_time") if row.get("status") != ev.STATUS_RUNNING else None
            return (end if end is not None else self.now) - start
        if name == "metrics":
            return self.metrics
        if name == "params":
            return self.params
        return self.params.get(name, MISSING)  # run.hparams: a param, as in Aim

    def query_item(self, key: Any) -> Any:
        return item(self.params, key)


def _datetime(ts: Any) -> Any:
    # Naive local time, as Aim's created_at, so that `run.created_at > datetime(2022, 2, 2)` works.
    if ts is None:
        return MISSING
    return _dt.datetime.fromtimestamp(ts)
