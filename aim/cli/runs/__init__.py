"""Group ``aim runs`` and its lazy map."""

from __future__ import annotations

import click

from aim.cli.main import LazyGroup

COMMANDS = {
    "ls": ("aim.cli.runs.listing", "ls"),
    "show": ("aim.cli.runs.listing", "show"),
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
}


@click.group(cls=LazyGroup, lazy=COMMANDS)
def runs() -> None:
    """List, inspect and manage runs."""
