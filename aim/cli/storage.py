"""Group ``aim storage``: prune, reindex, verify, names."""

from __future__ import annotations

import click

from aim.cli.options import group_repo_option, json_option, open_repo, repo_option
from aim.cli.output import echo_json, format_size


@click.group()
@group_repo_option
def storage(repo: str | None) -> None:
    """Maintain the repository: compact, check, rebuild the index.

    ``--repo`` may come before the subcommand, as in Aim (``aim storage --repo P prune``), or
    after it; when both are given, the subcommand's wins.
    """


@storage.command()
@repo_option
@click.option("-y", "--yes", is_flag=True,
              help="Accepted for Aim's command lines; reindex never asks (the index is disposable).")
def reindex(repo: str, yes: bool) -> None:
    """Drop the index and rebuild it by replaying every run's log.

    Nothing is lost (the index is a projection of the logs) and live writers keep writing, so
    there is nothing to confirm (Aim asks; -y/--yes is accepted).
    """
    n = open_repo(repo).reindex()
    click.echo(f"reindexed {n} run{'s' if n != 1 else ''}")


@storage.command()
@repo_option
@click.option("--dry-run", is_flag=True, help="Only list the deleted runs that would be removed.")
@json_option
def prune(repo: str, dry_run: bool, as_json: bool) -> None:
    """Remove deleted runs for good, and the metric names, contexts and param keys only they used.

    Runs beside live writers; safe to interrupt (the next prune finishes the job). It asks for
    no confirmation: it only removes runs that `aim runs rm` already deleted.
    """
    r = open_repo(repo)
    if dry_run:
        rows = r.list_runs(only_deleted=True)
        for row in rows:
            click.echo(row["hash"])
        click.echo(f"would remove {len(rows)} deleted run{'s' if len(rows) != 1 else ''}", err=True)
        return
    rep = r.prune()
    if as_json:
        echo_json(rep.as_dict())
    else:
        click.echo(f"removed {len(rep.runs)} run{'s' if len(rep.runs) != 1 else ''}, "
                   f"freed {format_size(rep.bytes)}; dropped {len(rep.names)} metric name(s), "
                   f"{len(rep.contexts)} context(s), {len(rep.param_keys)} param key(s)")
        for name in rep.names:
            click.echo(f"  metric  {name}")
        for key in rep.param_keys:
            click.echo(f"  param   {key}")
    for o in rep.skipped:
        click.echo(f"error: {o.hash}: {o.message}", err=True)
    if rep.skipped:
        raise SystemExit(1)


@storage.command()
@repo_option
@click.option("--repair", is_flag=True, help="Fix what can be fixed without losing valid events.")
@json_option
def verify(repo: str, repair: bool, as_json: bool) -> None:
    """Check every segment (checksums), seq order, leftovers and the index against the logs.

    Exit code 1 when a problem remains (with --repair: one that could not be fixed).
    """
    problems = open_repo(repo).verify(repair=repair)
    for p in problems:
        if as_json:
            echo_json(p.__dict__)
        else:
            state = " (fixed)" if p.fixed else ""
            click.echo(f"{p.kind:12} {p.where}: {p.detail}{state}")
    left = [p for p in problems if not p.fixed]
    if not problems:
        click.echo("ok: no problems found", err=True)
    else:
        click.echo(f"{len(problems)} problem(s), {len(problems) - len(left)} fixed", err=True)
    if left:
        raise SystemExit(1)


@storage.command()
@repo_option
@json_option
def names(repo: str, as_json: bool) -> None:
    """The metric names, contexts and param keys offered for autocomplete (until prune)."""
    import orjson

    r = open_repo(repo)
    seqs, params = r.available_sequences(), r.available_params()
    if as_json:
        echo_json({"sequences": [{"name": n, "context": c} for n, c in seqs], "params": params})
        return
    for n, c in seqs:
        click.echo(f"metric  {n}  {orjson.dumps(c).decode()}")
    for k in params:
        click.echo(f"param   {k}")


