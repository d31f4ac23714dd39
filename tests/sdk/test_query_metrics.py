"""``Repo.query_metrics``: Aim's sequence queries over the index, Metric objects out."""

from __future__ import annotations

from pathlib import Path

import pytest

from aim import Repo, Run
from aim.errors import QueryError
from aim.storage.context import Context

QUIET = {"system_tracking_interval": None, "capture_terminal_logs": False}


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    for lr, bs in ((0.1, 32), (0.01, 64), (0.001, 64)):
        with Run(repo=tmp_path, experiment="mnist", **QUIET) as run:
            run["hparams"] = {"lr": lr, "batch_size": bs}
            for i in range(10):
                run.track(1.0 / (1 + i * lr * 10), name="loss", step=i, context={"subset": "train"})
                run.track(0.5 + i * lr, name="accuracy", step=i, context={"subset": "val"})
    return Repo(tmp_path)


def test_aims_doc_example_selects_the_train_loss_of_every_run(repo: Repo) -> None:
    found = repo.query_metrics('metric.name == "loss" and metric.context.subset == "train"')
    metrics = list(found.iter())
    assert len(found) == len(metrics) == 3
    assert {m.name for m in metrics} == {"loss"}
    assert all(m.context == Context({"subset": "train"}) for m in metrics)
    assert sorted(m.run["hparams", "lr"] for m in metrics) == [0.001, 0.01, 0.1]
    for m in metrics:
        lr = m.run["hparams"]["lr"]
        assert m.values.last() == (9, 1.0 / (1 + 9 * lr * 10))
        assert m.values.sparse_numpy()[0].tolist() == list(range(10))


def test_run_and_metric_conditions_combine(repo: Repo) -> None:
    found = repo.query_metrics(
        "metric.name == 'accuracy' and run.hparams.batch_size == 64 and metric.last > 0.55")
    assert [(m.run["hparams", "lr"], m.last()) for m in found] == [(0.01, (9, 0.5 + 9 * 0.01))]
    assert len(repo.query_metrics("")) == 6
    assert len(repo.query_metrics("metric.last_step == 9 and metric.count == 10")) == 6
    assert len(repo.query_metrics("run.hparams.missing > 1")) == 0  # missing is None-like


def test_iter_runs_groups_by_run(repo: Repo) -> None:
    groups = list(repo.query_metrics("metric.context.subset in ['train', 'val']").iter_runs())
    assert len(groups) == 3
    for g in groups:
        assert sorted(m.name for m in g) == ["accuracy", "loss"] and g.run.hash == g.hash
        assert all(m.run is g.run for m in g)


def test_dataframe_has_a_row_per_point_or_per_sequence(repo: Repo) -> None:
    found = repo.query_metrics("metric.name == 'loss'")
    frame = found.dataframe()
    assert len(frame) == 30
    columns = {"run.hash", "metric.name", "metric.context.subset", "step", "value", "epoch", "time"}
    assert columns <= set(frame.columns)
    last = found.dataframe(only_last=True)
    assert len(last) == 3 and set(last["step"]) == {9}


@pytest.mark.parametrize("query", ["metric.__class__", "metric.name.__len__()", "__import__('os')",
                                   "(lambda: 1)()", "[m for m in range(10**9)]"])
def test_hostile_metric_queries_are_refused(repo: Repo, query: str) -> None:
    with pytest.raises(QueryError, match="column"):
        repo.query_metrics(query)


AIM_DOCS_SNIPPET = '''
from aim import Repo

my_repo = Repo('REPO')
query = "metric.name == 'loss'" # Example query

# Get collection of metrics
for run_metrics_collection in my_repo.query_metrics(query).iter_runs():
    for metric in run_metrics_collection:
        # Get run params
        params = metric.run[...]
        # Get metric values
        steps, metric_values = metric.values.sparse_numpy()
        seen.append((params["hparams"]["lr"], steps.tolist(), metric_values.tolist()))
'''


def test_aims_query_metrics_snippet_runs_unchanged(repo: Repo) -> None:
    # The snippet of Aim's "Query runs and objects" page, as published (plus one line that
    # records what it read).
    seen: list[tuple[float, list[int], list[float]]] = []
    exec(AIM_DOCS_SNIPPET.replace("REPO", str(repo.root_path)), {"seen": seen})  # test code, not a query
    assert sorted(lr for lr, _, _ in seen) == [0.001, 0.01, 0.1]
    for lr, steps, values in seen:
        assert steps == list(range(10))
        assert values == [1.0 / (1 + i * lr * 10) for i in range(10)]
