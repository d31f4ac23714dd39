"""Read-back of metric sequences, in Aim's shapes: ``Metric`` with array views keyed by step.

``run.get_metric("loss", {"subset": "train"})`` gives a ``Metric``: ``metric.values`` is a list
of the values (sorted by step; for a repeated step the last value wins) that also answers
Aim's array-view calls (``sparse_numpy()``, ``values_list()``, ``last()``, ...), so code written
for Aim and code that treats it as a list both work.

A ``Metric`` holds the series store's packed columns (``sdk/series.py``); the Python lists are
made on first use, and the numpy methods read the columns directly, so ``sparse_numpy()`` of a
million points costs no Python loop per point.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from aim.errors import MissingExtraError
from aim.storage.context import Context
from aim.storage.series_files import NO_EPOCH, Columns

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
    column's entries, with Aim's ``ArrayView`` methods (numpy ones read the packed column)."""

    def __init__(self, steps: list[int] | array[int], items: list[Any],
                 raw: array[Any] | None = None) -> None:
        super().__init__(items)
        self._steps = steps
        self._raw = raw

    @property
    def steps(self) -> list[int]:
        """The steps, as a list."""
        if not isinstance(self._steps, list):
            self._steps = self._steps.tolist()
        return self._steps

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
        return self.indices_numpy(), self.values_numpy()

    def indices_numpy(self) -> Any:
        """The steps as a numpy array."""
        return column_numpy(self._steps)

    def values_numpy(self) -> Any:
        """The entries as a numpy array (a missing epoch becomes NaN)."""
        if self._raw is not None:
            return column_numpy(self._raw, epochs=isinstance(self, _EpochView))
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


class _EpochView(ArrayView):
    """The epochs column: ``NO_EPOCH`` in the packed column is None in the list, NaN in numpy."""


def column_numpy(col: list[Any] | array[Any], epochs: bool = False) -> Any:
    """A packed column (or a list) as a numpy array: a copy of the bytes, no loop per point."""
    np = _numpy()
    if not isinstance(col, array):
        return np.asarray(col)
    out = np.frombuffer(col, dtype=np.int64 if col.typecode == "q" else np.float64).copy()
    if epochs:
        missing = out == NO_EPOCH
        if missing.any():
            out = out.astype(np.float64)
            out[missing] = np.nan
    return out


class SequenceData:
    """``metric.data``: some points of a sequence (all of them at first), with ``sample(k)``
    and ``min_max(k)`` to downsample for plots."""

    def __init__(self, metric: Metric, rows: Sequence[int] | None = None) -> None:
        self.metric = metric
        self.rows = range(len(metric)) if rows is None else rows  # a range: no list per point

    def __len__(self) -> int:
        return len(self.rows)

    def sample(self, k: int) -> SequenceData:
        """``k`` points spread evenly over the sequence, the first and last included."""
        n = len(self.rows)
        if k >= n or n == 0:
            return self
        if k <= 1:
            return SequenceData(self.metric, self.rows[-1:] if k == 1 else [])
        picks = sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})
        return SequenceData(self.metric, [self.rows[i] for i in picks])

    def min_max(self, buckets: int) -> SequenceData:
        """At most ``2 * buckets`` points: the sequence cut into ``buckets`` runs of steps, and
        in each the point with the lowest and the one with the highest value, in step order.
        Unlike ``sample``, a spike (a loss blowing up for one step) is never dropped."""
        n = len(self.rows)
        if buckets <= 0 or n <= 2 * buckets:
            return self
        values = self.metric.columns.values
        picks: list[int] = []
        for b in range(buckets):
            part = self.rows[b * n // buckets:(b + 1) * n // buckets]
            lo = min(part, key=lambda r: _order(values[r]))
            hi = max(part, key=lambda r: _order(values[r]))
            picks += sorted({lo, hi})
        return SequenceData(self.metric, picks)

    def items_list(self) -> tuple[list[int], list[list[Any]]]:
        """(steps, [values, epochs, timestamps])."""
        c = self.metric.columns
        return ([c.steps[i] for i in self.rows],
                [[c.value_at(i) for i in self.rows],
                 [None if c.epochs[i] == NO_EPOCH else c.epochs[i] for i in self.rows],
                 [c.timestamps[i] for i in self.rows]])

    def values_list(self) -> list[Any]:
        """The values of the chosen points."""
        return [self.metric.columns.value_at(i) for i in self.rows]

    def indices_list(self) -> list[int]:
        """The steps of the chosen points."""
        steps = self.metric.columns.steps
        return [steps[i] for i in self.rows]

    def numpy(self) -> tuple[Any, list[Any]]:
        """(steps array, [values, epochs, timestamps] arrays), read from the packed columns."""
        c = self.metric.columns
        cols = [column_numpy(c.steps), column_numpy(c.values), column_numpy(c.epochs, epochs=True),
                column_numpy(c.timestamps)]
        if len(self.rows) != len(c):
            picks = _numpy().asarray(self.rows, dtype=_numpy().int64)
            cols = [col[picks] for col in cols]
        return cols[0], cols[1:]


def _order(value: Any) -> float:
    # NaN sorts above everything, so a bucket holding one keeps it as its max.
    return float("inf") if value != value else value


class Metric:
    """One (name, context) sequence of a run, sorted by step (last value per step wins)."""

    def __init__(self, name: str, context: dict[str, Any], run: RunBase | None = None,
                 columns: Columns | None = None, load: Callable[[], Columns | None] | None = None) -> None:
        self.name = name
        self.context = Context(context)
        self.run = run
        self._columns = columns
        self._load = load  # reads the points on first use: listing a run's metrics reads none
        self._views: dict[str, Any] = {}

    @property
    def columns(self) -> Columns:
        """The points as packed columns (read from the series store on first use)."""
        if self._columns is None:
            loaded = self._load() if self._load is not None else None
            self._columns = loaded if loaded is not None else Columns()
        return self._columns

    def __repr__(self) -> str:
        return f"<Metric {self.name!r} {dict(self.context)} {len(self)} points>"

    def __len__(self) -> int:
        return len(self.columns)

    # The lists are made on first use: reading a million points as numpy never makes them.
    @property
    def steps(self) -> list[int]:
        """The steps, ascending (one point per step)."""
        if "steps" not in self._views:
            self._views["steps"] = self.columns.steps.tolist()
        return self._views["steps"]

    @property
    def values(self) -> ArrayView:
        """The values, keyed by step."""
        if "values" not in self._views:
            self._views["values"] = ArrayView(self.columns.steps, self.columns.value_list(),
                                              self.columns.values)
        return self._views["values"]

    @property
    def epochs(self) -> ArrayView:
        """The epochs, keyed by step (None where none was given)."""
        if "epochs" not in self._views:
            items = [None if e == NO_EPOCH else e for e in self.columns.epochs]
            self._views["epochs"] = _EpochView(self.columns.steps, items, self.columns.epochs)
        return self._views["epochs"]

    @property
    def timestamps(self) -> ArrayView:
        """The Unix times the points were tracked at, keyed by step."""
        if "timestamps" not in self._views:
            self._views["timestamps"] = ArrayView(self.columns.steps, self.columns.timestamps.tolist(),
                                                  self.columns.timestamps)
        return self._views["timestamps"]

    def __bool__(self) -> bool:
        return True  # an empty sequence is still a sequence (Aim's Metric is truthy)

    @property
    def data(self) -> SequenceData:
        """All points, with ``sample(k)``, ``items_list()``, ``numpy()``."""
        return SequenceData(self)

    def first_step(self) -> int | None:
        """The lowest step, or None when empty."""
        return self.columns.steps[0] if len(self) else None

    def last_step(self) -> int | None:
        """The highest step, or None when empty."""
        return self.columns.steps[-1] if len(self) else None

    def last(self) -> tuple[int, float | int] | None:
        """(step, value) at the highest step, or None when empty."""
        return (self.columns.steps[-1], self.columns.value_at(-1)) if len(self) else None

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


