"""Group ``aim storage``: reindex (prune and verify arrive with run management)."""

from __future__ import annotations

import click

from aim.cli.options import open_repo, repo_option


@click.group()
def storage() -> None:
    """Maintain the repository: rebuild the index."""


@storage.command()
@repo_option
def reindex(repo: str) -> None:
    """Drop the index and rebuild it by replaying every run's log."""
    n = open_repo(repo).reindex()
    click.echo(f"reindexed {n} run{'s' if n != 1 else ''}")
