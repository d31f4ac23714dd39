"""``aim runs ls`` and ``aim runs show``."""

from __future__ import annotations

from typing import Any

import click

from aim.cli.options import RUN_HASH, json_option, open_repo, repo_option
from aim.cli.output import echo_json, format_time, table


@click.command()
@repo_option
@click.option("--experiment", default=None, help="Only runs of this experiment.")
@click.option("--deleted", is_flag=True, help="Show deleted runs (restorable until prune) instead.")
@click.option("--corrupted", is_flag=True,
              help="Only the runs whose log `aim storage verify` finds damaged, with the damage.")
@click.option("--query", "-q", "query", default=None, metavar="EXPR",
              help="Only the runs for which this AimQL expression holds, e.g. "
                   "'run.hparams.lr > 0.01 and run.experiment == \"cifar\"' (docs/query.md).")
@json_option
def ls(repo: str, experiment: str | None, deleted: bool, corrupted: bool, query: str | None,
       as_json: bool) -> None:
    """List runs: hash, experiment, name, created, status.

    A run whose writer has not flushed its first events yet is listed as running, with its
    experiment and name unknown (-) until it does.
    """
    r = open_repo(repo)
    if corrupted:
        if experiment is not None or deleted:
            raise click.UsageError("--corrupted lists every damaged run: give no --experiment or --deleted")
        _ls_corrupted(r, as_json)
        return
    rows = r.list_runs(experiment=experiment, only_deleted=deleted, include_starting=True)
    if query is not None:
        rows = _matching(r, query, rows, deleted)
    if as_json:
        for row in rows:
            echo_json({k: row[k] for k in ("hash", "experiment", "name", "creation_time",
                                            "end_time", "status", "tags", "archived")})
        return
    click.echo(table(
        ("HASH", "EXPERIMENT", "NAME", "CREATED", "STATUS"),
        [(row["hash"], row["experiment"], row["name"], format_time(row["creation_time"]), row["status"])
         for row in rows],
    ))
    click.echo(f"{len(rows)} run{'s' if len(rows) != 1 else ''}", err=True)


def _matching(r: Any, query: str, rows: list[dict[str, Any]], deleted: bool) -> list[dict[str, Any]]:
    """The rows for which ``query`` holds (a bad query raises ``QueryError``: one line, exit 1)."""
    if deleted:
        # Repo.query_runs sees only runs that are not deleted: no front door for these yet.
        from aim.sdk.query import matching_rows

        return matching_rows(r, query, rows)
    from aim.sdk.query import QueryReportMode

    # Only indexed runs match: a run whose writer has not flushed yet has nothing recorded to
    # match (as no --experiment matches it).
    matched = set(r.query_runs(query, report_mode=QueryReportMode.DISABLED).hashes())
    return [row for row in rows if row["hash"] in matched]


def _ls_corrupted(r: Any, as_json: bool) -> None:
    from aim.sdk.verify import corrupted_runs

    found = corrupted_runs(r)
    if as_json:
        for h, problems in sorted(found.items()):
            echo_json({"hash": h, "problems": [{"kind": p.kind, "where": p.where, "detail": p.detail}
                                               for p in problems]})
        return
    click.echo(table(("HASH", "PROBLEM", "DETAIL"),
                     [(h, ",".join(sorted({p.kind for p in ps})), ps[0].detail
                       + (f" (+{len(ps) - 1} more)" if len(ps) > 1 else ""))
                      for h, ps in sorted(found.items())]))
    click.echo(f"{len(found)} corrupted run{'s' if len(found) != 1 else ''}", err=True)


@click.command()
@repo_option
@click.argument("run_hash", type=RUN_HASH)
@json_option
def show(repo: str, run_hash: str, as_json: bool) -> None:
    """Show one run: metadata, params, tags and sequences with their last values."""
    import orjson

    from aim.core.values import to_json_form
    from aim.errors import RunNotFoundError
    from aim.sdk.run import Run

    r = open_repo(repo)
    if not r.has_run(run_hash):
        raise RunNotFoundError(f"no run {run_hash} in {r.path}")
    # Read-only, from the run's index rows when they are current (else a replay of its log);
    # a deleted run opens too (Repo.get_run would say None), so that show can say it is.
    run = Run(run_hash, repo=r, read_only=True)
    if run.creation_time is None:  # no event yet: every run's log starts with run.started
        _show_unindexed(r, run_hash, as_json)
        return
    points = _point_counts(r, run_hash)
    info = {
        "hash": run_hash,
        "experiment": run.experiment,
        "name": run.name,
        "description": run.description,
        "status": r.run_status(run_hash),
        "deleted": not r.run_exists(run_hash),
        "archived": run.archived,
        "created": run.creation_time,
        "ended": run.end_time,
        "tags": run.tags,
        "params": to_json_form(run[...]),  # the log's JSON form (NaN as "NaN", bytes as base64)
        # The values in the log's JSON form (NaN as "NaN"), as the index keeps and shows them.
        "sequences": [
            {"name": s["name"], "context": s["context"],
             "points": points.get((s["name"], _context_json(s["context"]))),
             "last_step": s["values"]["last_step"], "last_value": to_json_form(s["values"]["last"])}
            for s in run.collect_sequence_info("metric")["metric"]
        ],
    }
    if as_json:
        echo_json(info)
        return
    for key in ("hash", "experiment", "name", "description", "status"):
        click.echo(f"{key + ':':13}{info[key] if info[key] is not None else '-'}")
    click.echo(f"{'created:':13}{format_time(info['created'])}")
    click.echo(f"{'ended:':13}{format_time(info['ended'])}")
    click.echo(f"{'tags:':13}{', '.join(info['tags']) or '-'}")
    click.echo("params:")
    params = dict(info["params"])
    if isinstance(params.get("__system_params"), dict):
        # Hundreds of lines (packages, environment): summarized here, whole in --json.
        params["__system_params"] = f"{{{len(params['__system_params'])} fields: see --json}}"
    click.echo("  " + (orjson.dumps(params, option=orjson.OPT_INDENT_2).decode()
                       .replace("\n", "\n  ")))
    click.echo("sequences:")
    click.echo(table(
        ("  NAME", "CONTEXT", "POINTS", "LAST STEP", "LAST VALUE"),
        [("  " + s["name"], orjson.dumps(s["context"]).decode(), s["points"], s["last_step"],
          s["last_value"]) for s in info["sequences"]],
    ))


def _context_json(context: dict[str, Any]) -> str:
    """A context in the index's canonical JSON (the key ``_not_in_front_door`` counts by)."""
    from aim.core.encoding import context_key

    return context_key(context).decode()


def _point_counts(r: Any, run_hash: str) -> dict[tuple[str, str], int]:
    """Each sequence's count of tracked points by (name, context JSON), from the index: what
    show prints that the front door does not give (Aim's sequence info has the last step and
    value only; ``len(metric)`` reads the points and counts steps, not tracked points)."""
    return {(n, c): p for n, c, p, _, _ in r.index.sequence_rows(run_hash)}


def _show_unindexed(r: Any, run_hash: str, as_json: bool) -> None:
    """A run directory the index does not know: a live writer's run before its first flush
    (shown as running, nothing recorded yet), or an empty shell whose writer died (an error)."""
    from aim.errors import RunNotFoundError

    starting = next((row for row in r.list_runs(include_starting=True) if row["hash"] == run_hash), None)
    if starting is None:
        raise RunNotFoundError(f"run {run_hash} holds no event: its writer died before its first write",
                               hint="aim storage verify --repair removes it")
    info = {"hash": run_hash, "experiment": None, "name": None, "description": None,
            "status": starting["status"], "deleted": False, "archived": False,
            "created": starting["creation_time"], "ended": None, "tags": [], "params": {},
            "sequences": []}
    if as_json:
        echo_json(info)
        return
    click.echo(f"{'hash:':13}{run_hash}")
    click.echo(f"{'status:':13}{info['status']} (its writer has not flushed its first events yet)")
    click.echo(f"{'created:':13}{format_time(info['created'])}")
