"""``aim runs query-metrics``: the metric sequences an AimQL query matches, from the index."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click

from aim.cli.options import json_option, open_repo, repo_option
from aim.cli.output import echo_json, table

COLUMNS = ("hash", "experiment", "name", "context", "points", "last_step", "last_value")


@click.command("query-metrics")
@repo_option
@click.argument("query", default="", metavar="[EXPR]")
@json_option
def query_metrics(repo: str, query: str, as_json: bool) -> None:
    """List the metric sequences for which the AimQL expression EXPR holds (every one without
    it): run hash, experiment, metric name, context, points, last step and last value.

    EXPR sees `metric.name`, `metric.context.<key>`, `metric.last`, `metric.last_step`,
    `metric.count` and `run.*` (docs/query.md), e.g.
    'metric.name == "loss" and metric.context.subset == "train" and run.hparams.lr > 0.01'.
    Read from the index only (no metric's points are read), so it stays fast on big repos.
    """
    r = open_repo(repo)
    found = list(sequence_lines(r, query))
    if as_json:
        for line in found:
            echo_json(dict(zip(COLUMNS, line)))
        return
    import orjson

    click.echo(table(
        ("HASH", "EXPERIMENT", "METRIC", "CONTEXT", "POINTS", "LAST STEP", "LAST VALUE"),
        [(h, exp, name, orjson.dumps(ctx).decode(), points, step, value)
         for h, exp, name, ctx, points, step, value in found],
    ))
    runs = len({line[0] for line in found})
    click.echo(f"{len(found)} sequence{'s' if len(found) != 1 else ''} in "
               f"{runs} run{'s' if runs != 1 else ''}", err=True)


def sequence_lines(repo: Any, query: str) -> Iterator[tuple[Any, ...]]:
    """One tuple per matching sequence, oldest run first, in ``COLUMNS`` order; the last value
    in the log's JSON form (NaN as ``"NaN"``), as ``aim runs show`` prints it. Raises
    ``QueryError`` for a bad query."""
    from aim.core.values import to_json_form

    collection = repo.query_metrics(query)  # evaluated here: a bad query fails before any output
    # One listing for every run's experiment: a Run per match would cost its rows (or a replay
    # of a live run's log) just for that.
    experiments = {row["hash"]: row["experiment"] for row in repo.list_runs()}
    for item in collection.iter_runs():
        # ``infos`` are the index's (name, context, points, last step, last value): iterating
        # the item itself would give Metric objects, whose points come from the series store.
        for name, context, points, last_step, last_value in item.infos:
            yield (item.hash, experiments.get(item.hash), name, context, points, last_step,
                   to_json_form(last_value))
