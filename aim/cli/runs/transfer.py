"""``aim runs cp`` and ``aim runs mv``."""

from __future__ import annotations

import click

from aim.cli.options import open_repo, repo_option
from aim.cli.runs.selection import report, select, select_options

destination_option = click.option(
    "--destination", "-d", required=True, metavar="PATH",
    help="The repository to copy into (the folder holding .aim, or .aim itself; must exist).",
)


@click.command()
@repo_option
@click.argument("runs", nargs=-1)
@select_options
@destination_option
def cp(repo: str, runs: tuple[str, ...], experiment: str | None, older_than: str | None,
       destination: str) -> None:
    """Copy runs to another repository (sealed segments are hard-linked when possible)."""
    _transfer(repo, runs, experiment, older_than, destination, move=False)


@click.command()
@repo_option
@click.argument("runs", nargs=-1)
@select_options
@destination_option
def mv(repo: str, runs: tuple[str, ...], experiment: str | None, older_than: str | None,
       destination: str) -> None:
    """Move runs to another repository (removed here only once the copy is complete)."""
    _transfer(repo, runs, experiment, older_than, destination, move=True)


def _transfer(repo: str, runs: tuple[str, ...], experiment: str | None, older_than: str | None,
              destination: str, *, move: bool) -> None:
    from aim.sdk import maintenance

    src = open_repo(repo)
    dest = maintenance.dest_repo(destination)
    hashes, errors = select(src, runs, experiment=experiment, older_than=older_than, deleted=False)
    report(maintenance.copy(src, hashes, dest, move=move), errors, "moved" if move else "copied")
