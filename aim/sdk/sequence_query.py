"""``Repo.query_metrics``: Aim's sequence query (``metric.name == "loss" and run.hparams.lr > 0.01``).

Candidates come from the index (each run's row and sequence rows: name, context, count, last
step and last value), so the query itself reads no log and no series. The matching sequences
come back in Aim's shapes: a collection whose ``iter()`` yields ``Metric`` objects (points read
from the series store on first use), ``iter_runs()`` one collection per run, and
``dataframe()`` (pandas, an optional extra).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from aim.core.query import RunView, SequenceInfo, SequenceView, evaluate, parse
from aim.errors import MissingExtraError
from aim.sdk.metrics import Metric
from aim.sdk.query import QueryReportMode, RunHandle, sequence_infos, with_progress

if TYPE_CHECKING:
    from aim.sdk.repo import Repo


class RunMetricCollection(RunHandle):
    """The matching metrics of one run (Aim's ``SingleRunSequenceCollection``); ``.run`` is the
    run, opened read-only on first use."""

    def __init__(self, repo: Repo, run_hash: str, infos: list[SequenceInfo]) -> None:
        super().__init__(repo, run_hash)
        self.infos = infos

    def iter(self) -> Iterator[Metric]:
        """The run's matching metrics; each reads its points on first use."""
        run = self.run
        for name, context, *_ in self.infos:
            yield Metric(name, context, run, load=partial(run._metric_columns, name, context))

    def __iter__(self) -> Iterator[Metric]:
        return self.iter()

    def __len__(self) -> int:
        return len(self.infos)

    def dataframe(self, only_last: bool = False, include_run: bool = True, include_name: bool = True,
                  include_context: bool = True) -> Any:
        """Every matching metric's points as one pandas DataFrame (see ``Metric.dataframe``)."""
        return _concat([m.dataframe(include_name=include_name, include_context=include_context,
                                    include_run=include_run, only_last=only_last) for m in self.iter()])


class QueryMetricCollection:
    """The sequences a metric query matched, grouped by run, oldest run first (Aim's
    ``QuerySequenceCollection``)."""

    def __init__(self, runs: list[RunMetricCollection]) -> None:
        self.runs = runs

    def iter_runs(self) -> Iterator[RunMetricCollection]:
        """One collection per run with a match; ``.run`` is the run, iterate it for its metrics."""
        return iter(self.runs)

    def iter(self) -> Iterator[Metric]:
        """Every matching metric."""
        for run in self.runs:
            yield from run.iter()

    def __iter__(self) -> Iterator[Metric]:
        return self.iter()

    def __len__(self) -> int:
        return sum(len(r) for r in self.runs)

    def dataframe(self, only_last: bool = False, include_run: bool = True, include_name: bool = True,
                  include_context: bool = True) -> Any:
        """Every matching metric's points as one pandas DataFrame; ``only_last`` keeps each
        metric's last point (one row per sequence)."""
        return _concat([r.dataframe(only_last, include_run, include_name, include_context) for r in self.runs])


def _concat(frames: list[Any]) -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise MissingExtraError("dataframe() needs pandas", hint="pip install pandas") from None
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def query_metrics(repo: Repo, query: str = "",
                  report_mode: QueryReportMode = QueryReportMode.DISABLED) -> QueryMetricCollection:
    """The sequences for which ``query`` holds, with ``metric`` (``name``, ``context``,
    ``last``, ``last_step``, ``count``) and ``run`` (as in run queries) in scope."""
    parsed = parse(query, variables=frozenset({"metric", "run"}))
    now = time.time()
    rows = repo.list_runs()
    out: list[RunMetricCollection] = []
    for row in with_progress(rows, report_mode):
        infos = sequence_infos(repo, row["hash"])
        run_view = RunView(row, partial(list, infos), now)
        matched = [info for info in infos
                   if evaluate(parsed, {"run": run_view, "metric": SequenceView(info)})]
        if matched:
            out.append(RunMetricCollection(repo, row["hash"], matched))
    return QueryMetricCollection(out)
