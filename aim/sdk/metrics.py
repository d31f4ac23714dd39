"""Read-back of metric sequences, in Aim's shapes: ``Metric`` with array views keyed by step.

``run.get_metric("loss", {"subset": "train"})`` gives a ``Metric``: ``metric.values`` is a list
of the values (sorted by step; for a repeated step the last value wins) that also answers
Aim's array-view calls (``sparse_numpy()``, ``values_list()``, ``last()``, ...), so code written
for Aim and code that treats it as a list both work.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aim.core import events as ev
from aim.core.encoding import context_key
from aim.errors import MissingExtraError
from aim.sdk.log import iter_events
from aim.storage.context import Context

if TYPE_CHECKING:
    from aim.sdk.run_base import RunBase


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise MissingExtraError("numpy arrays need numpy", hint="pip install numpy") from None
    return numpy


class ArrayView(list[Any]):
    """One column of a sequence (values, epochs or timestamps), keyed by step: a list of the
    column's entries, with Aim's ``ArrayView`` methods."""

    def __init__(self, steps: list[int], items: list[Any]) -> None:
        super().__init__(items)
        self.steps = steps

    def indices(self) -> Iterator[int]:
        """The steps."""
        return iter(self.steps)

    def keys(self) -> Iterator[int]:
        """The steps (Aim's alias)."""
        return iter(self.steps)

    def items(self) -> Iterator[tuple[int, Any]]:
        """(step, entry) pairs."""
        return zip(self.steps, self)

    def sparse_list(self) -> tuple[list[int], list[Any]]:
        """(steps, entries) as two lists."""
        return list(self.steps), list(self)

    def indices_list(self) -> list[int]:
        """The steps as a list."""
        return list(self.steps)

    def values_list(self) -> list[Any]:
        """The entries as a list."""
        return list(self)

    def tolist(self) -> list[Any]:
        """The entries as a list."""
        return list(self)

    def sparse_numpy(self) -> tuple[Any, Any]:
        """(steps, entries) as two numpy arrays."""
        np = _numpy()
        return np.asarray(self.steps, dtype=np.int64), self.values_numpy()

    def indices_numpy(self) -> Any:
        """The steps as a numpy array."""
        np = _numpy()
        return np.asarray(self.steps, dtype=np.int64)

    def values_numpy(self) -> Any:
        """The entries as a numpy array (None, for a missing epoch, becomes NaN)."""
        np = _numpy()
        if any(v is None for v in self):
            return np.asarray([np.nan if v is None else v for v in self], dtype=np.float64)
        return np.asarray(list(self))

    def first(self) -> tuple[int, Any]:
        """(step, entry) at the lowest step; IndexError when empty."""
        return self.steps[0], self[0]

    def last(self) -> tuple[int, Any]:
        """(step, entry) at the highest step; IndexError when empty."""
        return self.steps[-1], self[-1]

    def first_idx(self) -> int:
        """The lowest step."""
        return self.steps[0]

    def last_idx(self) -> int:
        """The highest step."""
        return self.steps[-1]

    def first_value(self) -> Any:
        """The entry at the lowest step."""
        return self[0]

    def last_value(self) -> Any:
        """The entry at the highest step."""
        return self[-1]


class SequenceData:
    """``metric.data``: the columns together, and ``sample(k)`` for plots."""

    def __init__(self, metric: Metric, rows: list[int] | None = None) -> None:
        self.metric = metric
        self.rows = list(range(len(metric.steps))) if rows is None else rows

    def sample(self, k: int) -> SequenceData:
        """``k`` points spread evenly over the sequence, the first and last included."""
        n = len(self.rows)
        if k >= n or n == 0:
            return self
        if k <= 1:
            return SequenceData(self.metric, self.rows[-1:] if k == 1 else [])
        picks = sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})
        return SequenceData(self.metric, [self.rows[i] for i in picks])

    def items_list(self) -> tuple[list[int], list[list[Any]]]:
        """(steps, [values, epochs, timestamps])."""
        m = self.metric
        return ([m.steps[i] for i in self.rows],
                [[col[i] for i in self.rows] for col in (m.values, m.epochs, m.timestamps)])

    def values_list(self) -> list[Any]:
        """The values of the chosen points."""
        return [self.metric.values[i] for i in self.rows]

    def indices_list(self) -> list[int]:
        """The steps of the chosen points."""
        return [self.metric.steps[i] for i in self.rows]

    def numpy(self) -> tuple[Any, list[Any]]:
        """(steps array, [values, epochs, timestamps] arrays)."""
        steps, cols = self.items_list()
        return (ArrayView(steps, steps).values_numpy(),
                [ArrayView(steps, col).values_numpy() for col in cols])


class Metric:
    """One (name, context) sequence of a run, sorted by step (last value per step wins)."""

    def __init__(self, name: str, context: dict[str, Any], run: RunBase | None = None) -> None:
        self.name = name
        self.context = Context(context)
        self.run = run
        self.steps: list[int] = []
        self.values = ArrayView(self.steps, [])
        self.epochs = ArrayView(self.steps, [])
        self.timestamps = ArrayView(self.steps, [])

    def __repr__(self) -> str:
        return f"<Metric {self.name!r} {dict(self.context)} {len(self)} points>"

    def __len__(self) -> int:
        return len(self.steps)

    def __bool__(self) -> bool:
        return True  # an empty sequence is still a sequence (Aim's Metric is truthy)

    @property
    def data(self) -> SequenceData:
        """All points, with ``sample(k)``, ``items_list()``, ``numpy()``."""
        return SequenceData(self)

    def first_step(self) -> int | None:
        """The lowest step, or None when empty."""
        return self.steps[0] if self.steps else None

    def last_step(self) -> int | None:
        """The highest step, or None when empty."""
        return self.steps[-1] if self.steps else None

    def last(self) -> tuple[int, float | int] | None:
        """(step, value) at the highest step, or None when empty."""
        return (self.steps[-1], self.values[-1]) if self.steps else None

    def items(self) -> list[tuple[int, float | int]]:
        """(step, value) pairs."""
        return list(zip(self.steps, self.values))

    def dataframe(self, include_name: bool = False, include_context: bool = False,
                  include_run: bool = False, only_last: bool = False) -> Any:
        """The points as a pandas DataFrame: ``step``, ``value``, ``epoch``, ``time`` (Aim's
        columns), plus the name, the context (``context.<key>``) and the run when asked."""
        try:
            import pandas as pd
        except ImportError:
            raise MissingExtraError("Metric.dataframe needs pandas", hint="pip install pandas") from None
        rows = [len(self) - 1] if only_last and self.steps else range(len(self))
        data: dict[str, list[Any]] = {
            "step": [self.steps[i] for i in rows], "value": [self.values[i] for i in rows],
            "epoch": [self.epochs[i] for i in rows], "time": [self.timestamps[i] for i in rows],
        }
        n = len(data["step"])
        if include_name:
            data["metric.name"] = [self.name] * n
        if include_context:
            for key, value in self.context.items():
                data[f"metric.context.{key}"] = [value] * n
        if include_run and self.run is not None:
            data["run.hash"] = [self.run.hash] * n
        return pd.DataFrame(data)


def read_metric(segments: list[Path], name: str, context: dict[str, Any],
                run: RunBase | None = None) -> Metric:
    """Collect one sequence from segment files (a streaming pass over the log)."""
    by_step: dict[int, tuple[Any, Any, Any]] = {}
    want = context_key(context)
    for event in iter_events(segments):
        if event.get("type") == ev.METRIC and event.get("name") == name \
                and (event.get("context") or {}) == context \
                and context_key(event.get("context") or {}) == want:  # 1 == True, but not in JSON
            by_step[event["step"]] = (event.get("value"), event.get("epoch"), event.get("ts"))
    seq = Metric(name, dict(context), run)
    for step in sorted(by_step):
        value, epoch, ts = by_step[step]
        seq.steps.append(step)
        seq.values.append(value)
        seq.epochs.append(epoch)
        seq.timestamps.append(ts)
    return seq
