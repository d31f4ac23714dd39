"""Shared options and parameter types: ``--repo``, ``--json``, ``-y``, run hashes."""

from __future__ import annotations

import os
from typing import Any

import click

REPO_HELP = "Folder holding .aim (or the .aim folder itself). [default: $AIM_REPO, else .]"


def resolve_repo(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    """The repository a subcommand works on.

    Aim puts ``--repo`` on the group (``aim runs --repo P ls``); we also accept it on the
    subcommand (``aim runs ls --repo P``). The subcommand's own value wins when both are given:
    it is the one written nearest the command, as a later option overrides an earlier one.
    Then the enclosing group's, then ``$AIM_REPO``, then the working directory.
    """
    if value is not None:
        return value
    parent = ctx.parent
    while parent is not None:
        given = parent.params.get("repo")
        if given is not None:
            return str(given)
        parent = parent.parent
    return os.environ.get("AIM_REPO") or "."


repo_option = click.option("--repo", default=None, callback=resolve_repo, metavar="PATH", help=REPO_HELP)

# On a group (``aim runs --repo P ...``), as Aim has it: its subcommands read it through
# ``resolve_repo``; the group itself does nothing with it.
group_repo_option = click.option(
    "--repo", default=None, metavar="PATH",
    help="Folder holding .aim, for every subcommand (a subcommand's own --repo wins).",
)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per line).")


# click 8.5 made ParamType generic (older releases are not subscriptable at run time).
class RunHashType(click.ParamType):  # type: ignore[type-arg, unused-ignore]
    """A 24-hex run hash, validated before it reaches a path."""

    name = "HASH"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from aim.storage.hashes import validate_run_hash

        # A malformed hash is a user error about data, not usage: one line, exit 1.
        return validate_run_hash(value)


RUN_HASH = RunHashType()


def open_repo(path: str) -> Any:
    """Open an existing repository (errors are AimErrors, printed by the one handler)."""
    from aim.sdk.repo import Repo

    return Repo.from_path(path)
