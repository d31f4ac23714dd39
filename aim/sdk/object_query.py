"""``Repo.query_images`` and its siblings: Aim's object queries
(``images.name == "samples" and images.context.subset == "val" and run.hparams.lr > 0.01``).

Candidates come from the index (each run's row and object rows: name, context, kind, count,
last step), so the query reads no log and no blob; the matching sequences come back as
``ObjectSequence``s grouped by run, whose values are read on first use.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

import orjson

from aim.core.query import RunView, SequenceInfo, SequenceView, evaluate, parse
from aim.sdk.object_sequence import ObjectSequence
from aim.sdk.query import QueryReportMode, RunHandle, sequence_infos, with_progress

if TYPE_CHECKING:
    from aim.sdk.repo import Repo

# The name a query gives the sequence, per kind: Aim's (`images.name == "samples"`).
QUERY_VARIABLES = {"image": "images", "text": "texts", "distribution": "distributions",
                   "audio": "audios", "figure": "figures"}


class RunObjectCollection(RunHandle):
    """The matching object sequences of one run; ``.run`` is the run, opened read-only."""

    def __init__(self, repo: Repo, run_hash: str, kind: str, infos: list[SequenceInfo]) -> None:
        super().__init__(repo, run_hash)
        self.kind = kind
        self.infos = infos

    def iter(self) -> Iterator[ObjectSequence]:
        """The run's matching sequences; each reads its objects on first use."""
        run = self.run
        for name, context, *_ in self.infos:
            seq = run._object_sequence(self.kind, name, context)
            if seq is not None:
                yield seq

    def __iter__(self) -> Iterator[ObjectSequence]:
        return self.iter()

    def __len__(self) -> int:
        return len(self.infos)


class QueryObjectCollection:
    """The object sequences a query matched, grouped by run, oldest run first."""

    def __init__(self, runs: list[RunObjectCollection]) -> None:
        self.runs = runs

    def iter_runs(self) -> Iterator[RunObjectCollection]:
        """One collection per run with a match."""
        return iter(self.runs)

    def iter(self) -> Iterator[ObjectSequence]:
        """Every matching sequence."""
        for run in self.runs:
            yield from run.iter()

    def __iter__(self) -> Iterator[ObjectSequence]:
        return self.iter()

    def __len__(self) -> int:
        return sum(len(r) for r in self.runs)


def object_infos(repo: Repo, run_hash: str, kind: str) -> list[SequenceInfo]:
    """A run's object sequences of one kind from the index: (name, context, points, last
    step, None)."""
    return [(name, orjson.loads(context), points, last_step, None)
            for name, context, k, points, last_step in repo.index.object_rows(run_hash) if k == kind]


def query_objects(repo: Repo, kind: str, query: str = "",
                  report_mode: QueryReportMode = QueryReportMode.DISABLED) -> QueryObjectCollection:
    """The ``kind`` sequences for which ``query`` holds, with the sequence (``images``,
    ``texts``...: ``name``, ``context``, ``count``, ``last_step``) and ``run`` in scope."""
    variable = QUERY_VARIABLES[kind]
    parsed = parse(query, variables=frozenset({variable, "run"}))
    now = time.time()
    out: list[RunObjectCollection] = []
    for row in with_progress(repo.list_runs(), report_mode):
        infos = object_infos(repo, row["hash"], kind)
        if not infos:
            continue
        run_view = RunView(row, partial(sequence_infos, repo, row["hash"]), now)
        matched = [info for info in infos if evaluate(parsed, {"run": run_view, variable: SequenceView(info)})]
        if matched:
            out.append(RunObjectCollection(repo, row["hash"], kind, matched))
    return QueryObjectCollection(out)
