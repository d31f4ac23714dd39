"""Group ``aim runs`` and its lazy map."""

from __future__ import annotations

import click

from aim.cli.main import LazyGroup
from aim.cli.options import group_repo_option

COMMANDS = {
    "ls": ("aim.cli.runs.listing", "ls"),
    "show": ("aim.cli.runs.listing", "show"),
    "query-metrics": ("aim.cli.runs.query", "query_metrics"),
    "logs": ("aim.cli.runs.logs", "logs"),
    "tail": ("aim.cli.runs.stream", "tail"),
    "export": ("aim.cli.runs.stream", "export"),
    "upload": ("aim.cli.runs.remote", "upload"),
    "download": ("aim.cli.runs.remote", "download"),
    "rm": ("aim.cli.runs.lifecycle", "rm"),
    "restore": ("aim.cli.runs.lifecycle", "restore"),
    "close": ("aim.cli.runs.lifecycle", "close"),
    "cp": ("aim.cli.runs.transfer", "cp"),
    "mv": ("aim.cli.runs.transfer", "mv"),
    "fork": ("aim.cli.runs.branch", "fork"),
    "rewind": ("aim.cli.runs.branch", "rewind"),
}


@click.group(cls=LazyGroup, lazy=COMMANDS)
@group_repo_option
def runs(repo: str | None) -> None:
    """List, inspect and manage runs.

    ``--repo`` may come before the subcommand, as in Aim (``aim runs --repo P ls``), or after
    it (``aim runs ls --repo P``); when both are given, the subcommand's wins.
    """
