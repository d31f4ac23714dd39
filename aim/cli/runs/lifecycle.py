"""``aim runs rm``, ``aim runs restore`` and ``aim runs close``."""

from __future__ import annotations

from typing import Any

import click

from aim.cli.options import open_repo, repo_option
from aim.cli.runs.selection import report, select, select_options


@click.command()
@repo_option
@click.argument("runs", nargs=-1)
@select_options
@click.option("--corrupted", is_flag=True,
              help="Every run `aim runs ls --corrupted` lists (instead of RUNS and filters).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def rm(repo: str, runs: tuple[str, ...], experiment: str | None, older_than: str | None,
       corrupted: bool, yes: bool) -> None:
    """Delete runs (a tombstone each: instant, undone by `aim runs restore` until prune).

    RUNS are hashes, unique prefixes or shell-style globs ('*' is every run). A run held by a
    live writer is refused. Exit code 1 when any run could not be deleted.

    With --corrupted: the runs whose log `aim storage verify` finds damaged are deleted (their
    valid events stay restorable until prune); a run directory that holds no event at all (its
    writer died before writing) is removed at once.
    """
    from aim.sdk import maintenance, verify

    r = open_repo(repo)
    if corrupted:
        if runs or experiment is not None or older_than is not None:
            raise click.UsageError("--corrupted chooses the runs itself: give no RUNS, --experiment "
                                   "or --older-than with it")
        found = verify.corrupted_runs(r)
        hashes = sorted(found)
        if hashes and not yes:
            for h in hashes:
                click.echo(f"{h}  {found[h][0].kind}: {found[h][0].detail}")
            click.confirm(f"Delete {len(hashes)} corrupted run{'s' if len(hashes) != 1 else ''}?",
                          abort=True)
        report(verify.remove_corrupted(r, hashes), [], "deleted")
        return
    hashes, errors = select(r, runs, experiment=experiment, older_than=older_than, deleted=None)
    if hashes and not yes:
        click.echo("\n".join(hashes))
        click.confirm(f"Delete {len(hashes)} run{'s' if len(hashes) != 1 else ''}?", abort=True)
    report(maintenance.delete(r, hashes), errors, "deleted")


@click.command()
@repo_option
@click.argument("runs", nargs=-1)
@select_options
def restore(repo: str, runs: tuple[str, ...], experiment: str | None, older_than: str | None) -> None:
    """Undo `aim runs rm` for RUNS (possible until `aim storage prune`)."""
    from aim.sdk import maintenance

    r = open_repo(repo)
    hashes, errors = select(r, runs, experiment=experiment, older_than=older_than, deleted=True)
    report(maintenance.restore(r, hashes), errors, "restored")


@click.command()
@repo_option
@click.argument("runs", nargs=-1)
@click.option("--all-stale", is_flag=True, help="Every run whose writer died (status crashed).")
@click.option("-y", "--yes", is_flag=True,
              help="Accepted for Aim's command lines; close never asks (it refuses live runs).")
def close(repo: str, runs: tuple[str, ...], all_stale: bool, yes: bool) -> None:
    """Finish runs left open by a crashed process: repair the tail, record the end.

    The run's status becomes terminated (its process did not end it). A run whose writer is
    alive is refused, so there is nothing to confirm (Aim asks; -y/--yes is accepted).
    """
    from aim.sdk import maintenance

    r = open_repo(repo)
    errors: list[Any]
    if all_stale:
        hashes, errors = maintenance.stale_runs(r), []
    else:
        hashes, errors = select(r, runs, experiment=None, older_than=None, deleted=None)
    report(maintenance.close(r, hashes), errors, "closed")
